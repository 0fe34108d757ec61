/**
 * systemd-sysupdate transfer configs in the bakery's names and contents (docs/flatcar-facts.md §6): one
 * `<name>.conf` that follows every new release, and for recipes whose users pin a minor (kubernetes, k3s,
 * rke2) one `<name>-vX.Y.conf` per minor that only follows patch releases. All of them keep the
 * `/etc/extensions/<name>.raw` symlink name, because the image's extension-release is named after it
 * (the bakery's k3s patch conf once pointed elsewhere, issue #140). Confs read back (a local file, the
 * bakery's) are parsed strictly, as input from outside.
 */
import { inputError } from '../core/errors.ts';
import { normaliseOsPath, type OsPathRole, osPathProblem, type SysupdateTarget } from '../image/placement.ts';

export interface SysupdateConf {
  fileName: string;
  text: string;
}

export interface SysupdateRequest {
  name: string;
  version: string;
  /** Base URL under which `<name>/SHA256SUMS` and the images are published. */
  bakeryUrl: string;
  /** Verify=yes: sysupdate checks SHA256SUMS.gpg against the host's import keyring. */
  verify: boolean;
  /** Also write the patch-level conf for the version's minor. */
  patchLevel: boolean;
}

export function sysupdateConfs(request: SysupdateRequest): SysupdateConf[] {
  const confs = [{ fileName: `${request.name}.conf`, text: transferText(request, `${request.name}-@v-%a.raw`) }];
  if (request.patchLevel) {
    const minor = minorPrefix(request.version);
    if (minor) {
      confs.push({
        fileName: `${request.name}-${minor}.conf`,
        text: transferText(request, `${request.name}-${minor}.@v-%a.raw`),
      });
    }
  }
  return confs;
}

/** `v1.31.4+k3s1` → `v1.31`; undefined for versions without a major.minor. */
export function minorPrefix(version: string): string | undefined {
  return /^(v?\d+\.\d+)\./.exec(version)?.[1];
}

function transferText(request: SysupdateRequest, matchPattern: string): string {
  const base = request.bakeryUrl.replace(/\/+$/, '');
  return [
    '[Transfer]',
    `Verify=${request.verify ? 'yes' : 'false'}`,
    '',
    '[Source]',
    'Type=url-file',
    `Path=${base}/${request.name}/`,
    `MatchPattern=${matchPattern}`,
    '',
    '[Target]',
    'InstancesMax=3',
    'Type=regular-file',
    `Path=/opt/extensions/${request.name}`,
    `CurrentSymlink=/etc/extensions/${request.name}.raw`,
    '',
  ].join('\n');
}

/**
 * The keys systemd-sysupdate reads, per section (sysupdate.d(5), the table in sysupdate-transfer.c).
 * systemd only warns about others and goes on; a conf from outside that carries them is refused, since
 * nobody can say what its author meant.
 */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  Transfer: ['MinVersion', 'ProtectVersion', 'Verify', 'ChangeLog', 'AppStream', 'Features', 'RequisiteFeatures'],
  Source: ['Type', 'Path', 'PathRelativeTo', 'MatchPattern'],
  Target: [
    'Type',
    'Path',
    'PathRelativeTo',
    'MatchPattern',
    'MatchPartitionType',
    'PartitionUUID',
    'PartitionFlags',
    'PartitionNoAuto',
    'PartitionGrowFileSystem',
    'ReadOnly',
    'Mode',
    'TriesLeft',
    'TriesDone',
    'InstancesMax',
    'RemoveTemporary',
    'CurrentSymlink',
  ],
};

/** [Target] values bake can honour; others would make sysupdate look somewhere bake did not write. */
const TARGET_VALUES: Record<string, readonly string[]> = { Type: ['regular-file'], PathRelativeTo: ['root'] };

interface Setting {
  line: number;
  section: string;
  key: string;
  value: string;
}

/** systemd's unit-file syntax, strictly: anything systemd would skip with a warning is refused here. */
function settingsOf(text: string, source: string): Setting[] {
  const settings: Setting[] = [];
  let section = '';
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const at = `${source}:${index + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      if (!(section in KNOWN_KEYS)) throw confError(`${at}: unknown section [${section}]`);
      return;
    }
    if (line.endsWith('\\')) throw confError(`${at}: line continuations are not accepted`);
    const equals = line.indexOf('=');
    if (equals <= 0 || !section) throw confError(`${at}: '${line.slice(0, 60)}' is not a key=value line in a section`);
    const key = line.slice(0, equals).trim();
    if (!KNOWN_KEYS[section]!.includes(key))
      throw confError(`${at}: [${section}] ${key}= is not a systemd-sysupdate key`);
    settings.push({ line: index + 1, section, key, value: line.slice(equals + 1).trim() });
  });
  return settings;
}

const confError = (message: string) =>
  inputError(message, 'fix the conf or leave it out (bake then writes the default placement)');

/** An OS path from the conf: absolute, normalised, writable by bake (see osPathProblem); else refused. */
function confPath(setting: Setting, source: string, role: OsPathRole): string {
  const { section, key, value } = setting;
  const problem = value.includes('%') ? 'uses % specifiers, which bake does not expand' : osPathProblem(value, role);
  if (problem) throw confError(`${source}:${setting.line}: [${section}] ${key}=${value} ${problem}`);
  return normaliseOsPath(value);
}

/**
 * A sysupdate.d conf, parsed strictly: its [Target] section says where instances live and which symlink
 * marks the current one, and decides where bake puts the image. Every conf is treated as hostile input.
 */
export function parseSysupdateConf(text: string, source: string): SysupdateTarget {
  const target: SysupdateTarget = { source, matchPatterns: [] };
  for (const setting of settingsOf(text, source)) {
    if (setting.section !== 'Target') continue;
    const { key, value } = setting;
    const allowed = TARGET_VALUES[key];
    if (allowed && !allowed.includes(value))
      throw confError(
        `${source}:${setting.line}: [Target] ${key}=${value} is not supported by bake (only ${allowed.join(', ')})`,
      );
    if (key === 'Path') target.path = confPath(setting, source, 'dir');
    if (key === 'CurrentSymlink') target.currentSymlink = confPath(setting, source, 'entry');
    if (key === 'MatchPattern')
      target.matchPatterns.push(
        ...value
          .split(/\s+/)
          .filter(Boolean)
          .map((pattern) => filePattern(pattern, setting, source)),
      );
  }
  return target;
}

/** A [Target] MatchPattern names files inside Path=, so it is one path component. */
function filePattern(pattern: string, setting: Setting, source: string): string {
  if (pattern.includes('/') || pattern === '.' || pattern === '..')
    throw confError(`${source}:${setting.line}: [Target] MatchPattern ${pattern} is not a file name`);
  return pattern;
}
