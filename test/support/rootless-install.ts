/**
 * Runs bake's install stage on its own, for tests that run it as an ordinary user (a child process
 * under runuser) or as root for comparison. Argument: JSON `{ image, items: [{ name, file, image,
 * conf?, installTo? }] }`; prints `{ grownBy }` as JSON.
 */
import { stat } from 'node:fs/promises';
import { createContext } from '../../bake/context.ts';
import { parseInstallTarget, placeSysext } from '../../bake/image/placement.ts';
import { type InstallItem, installIntoImage } from '../../bake/pipeline/install.ts';

export interface RootlessInstallRequest {
  image: string;
  items: Array<{ name: string; file: string; image: string; conf?: string; installTo?: string }>;
}

const request = JSON.parse(process.argv[2]!) as RootlessInstallRequest;
const ctx = createContext({ verbose: true });
const items: InstallItem[] = [];
for (const item of request.items) {
  const placement = placeSysext(
    item.name,
    item.file,
    parseInstallTarget(item.installTo ?? 'root:/opt/extensions'),
    undefined,
    item.conf !== undefined,
  );
  items.push({
    spec: { name: item.name },
    image: item.image,
    bytes: (await stat(item.image)).size,
    placement,
    ...(item.conf ? { conf: item.conf } : {}),
  });
}
const result = await installIntoImage(ctx, request.image, items, () => undefined);
process.stdout.write(JSON.stringify(result));
