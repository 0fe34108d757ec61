/** `bake ignition <extensions...>`: the provisioning config as Ignition JSON (spec 3.3.0), no Butane needed. */
import type { Command } from 'commander';
import { toIgnition } from '../provision/ignition.ts';
import { provisionCommand } from './provision-shared.ts';

export function command(): Command {
  // --json wraps the config in the one shape every command prints; without it, the config alone (to pipe into a file).
  return provisionCommand('ignition', 'Ignition JSON', {
    text: (config) => `${JSON.stringify(toIgnition(config), null, 2)}\n`,
    json: (config) => ({ ignition: toIgnition(config) }),
  });
}
