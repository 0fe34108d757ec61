/**
 * `bake butane` and `bake ignition` take the same arguments and build the same config; only the
 * rendering differs. This builds either command.
 */
import { Command, Option } from 'commander';
import { addCommonOptions, type CommonOptions, contextFromOptions } from '../cli-context.ts';
import { type Arch, parseArch } from '../core/arch.ts';
import { usageError } from '../core/errors.ts';
import type { Provisioning } from '../provision/model.ts';
import { parseExtensionRef, resolveExtension } from '../provision/refs.ts';
import { type AutoUpdate, notUpdatable, parseAutoUpdate, sysextProvisioning } from '../provision/sysexts.ts';
import { printJson } from './json-output.ts';

interface ProvisionFlags extends CommonOptions {
  arch: Arch;
  autoUpdate?: AutoUpdate;
  update: boolean;
}

/** How a command renders the config: as text, and as the member of its --json object that carries it. */
export interface ProvisionRendering {
  text: (config: Provisioning) => string;
  json: (config: Provisioning) => object;
}

export function provisionCommand(name: string, format: string, render: ProvisionRendering): Command {
  const program = new Command(name)
    .description(`Print the ${format} that installs sysexts on a Flatcar machine at first boot, with verified hashes.`)
    .usage('[options] <name|name@version|name:file...>')
    .argument(
      '<extensions...>',
      'name (newest in the bakery), name@version, or name:file (a local image you host under --bakery-url)',
    )
    .addOption(new Option('--arch <arch>', 'x86-64 or arm64').default('x86-64').argParser(parseArch))
    .addOption(
      new Option('--auto-update <action>', 'after sysupdate replaced an image: refresh, restart:<unit> or reboot')
        .default({ kind: 'reboot' }, 'reboot')
        .argParser(parseAutoUpdate),
    )
    .option('--no-update', 'no sysupdate confs, timer or drop-ins: the images stay as provisioned');
  addCommonOptions(program, { dryRun: false, endpoints: ['bakeryUrl'] });
  program.action(async (refs: string[], flags: ProvisionFlags) => {
    const ctx = contextFromOptions(flags);
    const parsed = refs.map(parseExtensionRef);
    const names = parsed.map((ref) => ref.name);
    const twice = names.find((ref, index) => names.indexOf(ref) !== index);
    if (twice) throw usageError(`extension ${twice} is named twice`, 'give each extension once');
    const bakeryUrl = ctx.endpoints.bakeryUrl;
    const extensions = await Promise.all(
      parsed.map((ref) => resolveExtension(ctx, ref, { bakeryUrl, arch: flags.arch })),
    );
    const autoUpdate = flags.update ? flags.autoUpdate : undefined;
    for (const stuck of autoUpdate ? notUpdatable(extensions) : []) {
      ctx.log.warn(
        `${stuck}: the file name is not ${stuck}-<version>-<arch>.raw, so systemd-sysupdate cannot update it`,
      );
    }
    const config = sysextProvisioning(extensions, { bakeryUrl, ...(autoUpdate ? { autoUpdate } : {}) });
    if (ctx.json) printJson(render.json(config));
    else process.stdout.write(render.text(config));
  });
  return program;
}
