/** `bake ignition <extensions...>`: the provisioning config as Ignition JSON (spec 3.3.0), no Butane needed. */
import type { Command } from 'commander';
import { toIgnition } from '../provision/ignition.ts';
import { provisionCommand } from './provision-shared.ts';

export function command(): Command {
  return provisionCommand('ignition', 'Ignition JSON', (config) => `${JSON.stringify(toIgnition(config), null, 2)}\n`);
}
