/**
 * The in-guest half of `bake boot --check`: a POSIX shell script, delivered by Ignition, that waits for
 * boot to finish, reports per extension whether systemd-sysext merged it and how the units it enables
 * fared, writes that to the serial port as `BAKE-CHECK ...` lines and powers off. The host half parses
 * those lines (parseCheckReport). Everything here is text: it runs on Flatcar, not on the host.
 */
import { usageError } from '../core/errors.ts';
import type { Provisioning } from '../provision/model.ts';

export const CHECK_SCRIPT_PATH = '/opt/bake-check/check.sh';
export const CHECK_UNIT = 'bake-check.service';
const MARK = 'BAKE-CHECK';

/**
 * Units an extension enables are the ones it links from a `.wants/`, `.requires/` or `.upholds/`
 * directory or names in a target drop-in (`Upholds=` is how the bakery starts services, because
 * `systemctl enable` cannot write into a sysext). The script mounts each image read-only to find them.
 */
const SCRIPT = `#!/bin/sh
# bake boot --check: report on the serial port whether each extension was merged and its units ran.
out=/dev/ttyS0
say() { echo "${MARK} $*" > "$out"; }
timeout 600 systemctl is-system-running --wait >/dev/null 2>&1
sleep 2
say begin
say "system $(systemctl is-system-running)"
units_of() {
  dir="$1/usr/lib/systemd/system"
  [ -d "$dir" ] || return 0
  for link in "$dir"/*.wants/* "$dir"/*.requires/* "$dir"/*.upholds/*; do
    if [ -e "$link" ] || [ -L "$link" ]; then basename "$link"; fi
  done
  cat "$dir"/*.d/*.conf 2>/dev/null | sed -n -E 's/^(Wants|Requires|Upholds)=//p' | tr ' ' '\\n'
}
# A filesystem image mounts as it is; a DDI (GPT) through a partition-scanned loop device, whose payload
# partition is the one that mounts. Only to list units: merging, with verity, is systemd-sysext's job.
mount_image() {
  mount -o ro,loop "$1" "$2" 2>/dev/null && return 0
  dev=$(losetup --find --show --read-only --partscan "$1" 2>/dev/null) || return 1
  for part in "$dev"p*; do
    if mount -o ro "$part" "$2" 2>/dev/null; then echo "$dev" > "$2.loop"; return 0; fi
  done
  losetup -d "$dev"
  return 1
}
unmount_image() {
  umount "$1"
  if [ -f "$1.loop" ]; then losetup -d "$(cat "$1.loop")"; rm -f "$1.loop"; fi
}
# No names given: every extension the image links from /etc/extensions.
if [ $# -eq 0 ]; then
  for image in /etc/extensions/*.raw; do [ -e "$image" ] || [ -L "$image" ] && set -- "$@" "$(basename "$image" .raw)"; done
fi
for name in "$@"; do
  link="/etc/extensions/$name.raw"
  if [ -e "/usr/lib/extension-release.d/extension-release.$name" ]; then merged=yes; else merged=no; fi
  say "extension $name merged=$merged image=$(readlink -f "$link" 2>/dev/null)"
  mnt=$(mktemp -d)
  if [ -e "$link" ] && mount_image "$link" "$mnt"; then
    for unit in $(units_of "$mnt" | grep . | sort -u); do
      say "unit $name $unit $(systemctl show -p ActiveState -p SubState -p Result -p InactiveExitTimestampMonotonic "$unit" | tr '\\n' ' ')"
    done
    unmount_image "$mnt"
  else
    say "unreadable $name"
  fi
  rmdir "$mnt"
done
systemd-sysext status --no-pager 2>&1 | sed 's/^/${MARK} sysext /' > "$out"
say "sysext-service $(systemctl show -p ActiveState -p Result systemd-sysext.service | tr '\\n' ' ')"
# systemd-sysext's own complaint is picked by the identifier it sends, not by unit: journald learns the unit
# from /proc, and on a slow boot it reads the message after the process is gone, so \`-u\` can miss it. It
# can also trail the unit's failure, and without it the report only says "exit-code": give it time to arrive.
# The images are dissected and mounted in a child that logs as (sd-merge): its errors (a refused signature or
# policy, a verity failure) come last, as the reason. One query for both the wait and the report, so that the
# wait looks for exactly what is reported.
sysext_log() {
  journalctl -b -t systemd-sysext -o cat --no-pager 2>/dev/null
  journalctl -b -t '(sd-merge)' -p err -o cat --no-pager 2>/dev/null
}
if [ "$(systemctl show -p ActiveState --value systemd-sysext.service)" = failed ]; then
  for try in 1 2 3 4 5 6 7 8 9 10; do
    journalctl --sync 2>/dev/null
    [ -n "$(sysext_log)" ] && break
    sleep 1
  done
fi
sysext_log | tail -n 12 | sed 's/^/${MARK} sysext-log /' > "$out"
say end
systemctl poweroff --no-block
`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export function checkProvisioning(extensions: readonly string[]): Provisioning {
  for (const name of extensions) {
    if (!NAME.test(name)) throw usageError(`invalid extension name '${name}'`, 'use letters, digits, . _ + -');
  }
  const unit = [
    '[Unit]',
    'Description=bake boot --check report',
    'After=multi-user.target',
    '',
    '[Service]',
    // exec, not oneshot: the script waits for the boot to finish, which a pending start job would block.
    'Type=exec',
    `ExecStart=${CHECK_SCRIPT_PATH} ${extensions.join(' ')}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return {
    files: [{ path: CHECK_SCRIPT_PATH, mode: 0o755, contents: { inline: SCRIPT } }],
    links: [],
    units: [{ name: CHECK_UNIT, enabled: true, contents: unit }],
    users: [],
  };
}

export interface UnitReport {
  unit: string;
  activeState: string;
  subState: string;
  result: string;
  /** The unit left the inactive state at least once during this boot. */
  started: boolean;
  ok: boolean;
}

export interface ExtensionReport {
  name: string;
  merged: boolean;
  image?: string;
  units: UnitReport[];
  /** The guest could not mount the image, so the units it enables are unknown. */
  unreadable?: boolean;
  pass: boolean;
  problem?: string;
}

export interface GuestReport {
  complete: boolean;
  systemState?: string;
  extensions: ExtensionReport[];
  sysextStatus: string[];
  /** systemd-sysext.service's state: one unsuitable image fails the whole merge. */
  sysextService?: { activeState: string; result: string };
  /** systemd-sysext's own messages, the last of which names the image it refused. */
  sysextLog: string[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape sequences is the point
const ANSI = /\x1b\[[0-9;=?]*[A-Za-z]/g;

function fields(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split(/\s+/)
      .filter((part) => part.includes('='))
      .map((part) => {
        const at = part.indexOf('=');
        return [part.slice(0, at), part.slice(at + 1)];
      }),
  );
}

function unitReport(unit: string, properties: Record<string, string>): UnitReport {
  const started = Number(properties.InactiveExitTimestampMonotonic ?? '0') > 0;
  const activeState = properties.ActiveState ?? 'unknown';
  const result = properties.Result ?? 'unknown';
  // A oneshot without RemainAfterExit is inactive again after a successful run; it still counts.
  const ok = result === 'success' && (activeState === 'active' || (started && activeState === 'inactive'));
  return { unit, activeState, subState: properties.SubState ?? 'unknown', result, started, ok };
}

function judge(extension: ExtensionReport, mergeFailure: string | undefined): ExtensionReport {
  const failed = extension.units.filter((unit) => !unit.ok).map((unit) => unit.unit);
  const problem = !extension.merged
    ? `not merged by systemd-sysext${mergeFailure ? ` (${mergeFailure})` : ''}`
    : extension.unreadable
      ? 'the guest could not mount the image to list its units'
      : failed.length > 0
        ? `units did not run: ${failed.join(', ')}`
        : undefined;
  return { ...extension, pass: problem === undefined, ...(problem ? { problem } : {}) };
}

/**
 * Reads the `BAKE-CHECK` lines out of a serial log (which also holds firmware noise and ANSI escapes).
 * `expected` empty: whatever the guest found in /etc/extensions.
 */
export function parseCheckReport(serialLog: string, expected: readonly string[]): GuestReport {
  const byName = new Map<string, ExtensionReport>();
  const report: GuestReport = { complete: false, extensions: [], sysextStatus: [], sysextLog: [] };
  let begun = false;
  for (const raw of serialLog.replace(ANSI, '').split(/\r?\n|\r/)) {
    const at = raw.indexOf(`${MARK} `);
    if (at === -1) continue;
    const [kind = '', ...rest] = raw.slice(at + MARK.length + 1).split(' ');
    const text = rest.join(' ');
    if (kind === 'begin') begun = true;
    else if (kind === 'end') report.complete = begun;
    else if (kind === 'system') report.systemState = text.trim();
    else if (kind === 'sysext') report.sysextStatus.push(text);
    else if (kind === 'sysext-log') report.sysextLog.push(text.trim());
    else if (kind === 'sysext-service') {
      const values = fields(text);
      report.sysextService = { activeState: values.ActiveState ?? 'unknown', result: values.Result ?? 'unknown' };
    } else if (kind === 'extension' && rest[0]) {
      const values = fields(rest.slice(1).join(' '));
      byName.set(rest[0], {
        name: rest[0],
        merged: values.merged === 'yes',
        ...(values.image ? { image: values.image } : {}),
        units: [],
        pass: false,
      });
    } else if (kind === 'unreadable' && rest[0]) {
      const extension = byName.get(rest[0]);
      if (extension) extension.unreadable = true;
    } else if (kind === 'unit' && rest[0] && rest[1]) {
      byName.get(rest[0])?.units.push(unitReport(rest[1], fields(rest.slice(2).join(' '))));
    }
  }
  const names = expected.length > 0 ? expected : [...byName.keys()];
  const mergeFailure =
    report.sysextService?.activeState === 'failed'
      ? `systemd-sysext.service failed: ${report.sysextLog.at(-1) ?? report.sysextService.result}`
      : undefined;
  report.extensions = names.map((name) =>
    judge(byName.get(name) ?? { name, merged: false, units: [], pass: false }, mergeFailure),
  );
  return report;
}
