/**
 * bake's pre-bake sysext inspection on its own, reporting as the CLI does (one line, exit code by error
 * kind): for tests that run it alone as another user, without a release to bake around it.
 * Usage: node --import tsx/esm inspect-sysext.ts <image> <name> <arch> [trusted-cert.pem ...]
 */
import { createContext } from '../../bake/context.ts';
import { parseArch } from '../../bake/core/arch.ts';
import { exitCodeFor, oneLine } from '../../bake/core/errors.ts';
import { memoryLogger } from '../../bake/core/log.ts';
import { inspectSysext } from '../../bake/image/sysext-file.ts';
import { loadCert } from '../../bake/sysext/ddi-signature.ts';

const [image = '', name = '', arch = '', ...certFiles] = process.argv.slice(2);
try {
  const trustedCerts = await Promise.all(certFiles.map(loadCert));
  const info = await inspectSysext(createContext({ log: memoryLogger() }), image, {
    name,
    arch: parseArch(arch),
    ...(trustedCerts.length ? { trustedCerts } : {}),
  });
  process.stdout.write(`${info.format}\n`);
} catch (error) {
  process.stderr.write(`${oneLine(error)}\n`);
  process.exitCode = exitCodeFor(error);
}
