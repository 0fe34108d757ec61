/** `bake butane <extensions...>`: the provisioning config as Butane YAML (variant flatcar 1.0.0). */
import type { Command } from 'commander';
import { toButane } from '../provision/butane.ts';
import { provisionCommand } from './provision-shared.ts';

export function command(): Command {
  return provisionCommand('butane', 'Butane YAML', {
    text: toButane,
    json: (config) => ({ butane: toButane(config) }),
  });
}
