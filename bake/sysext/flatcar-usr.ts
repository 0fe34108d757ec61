/**
 * Commands every Flatcar /usr has (coreutils, util-linux, systemd, kmod, iptables, the shell), for lint's
 * check of unit Exec*= paths that point outside the image. Deliberately a short, stable list: a command
 * not listed here must ship in the image. containerd, docker and runc come from the containerd-flatcar and
 * docker-flatcar sysexts Flatcar enables by default.
 */
const BIN = [
  'bash', 'sh', 'env', 'true', 'false', 'sleep', 'mkdir', 'rm', 'ln', 'cp', 'mv', 'cat', 'chmod', 'chown', 'test', 'echo',
  'systemctl', 'systemd-tmpfiles', 'systemd-sysusers', 'journalctl', 'udevadm', 'mount', 'umount', 'modprobe', 'kill',
  'iptables', 'ip6tables', 'ip', 'sysctl', 'ldconfig', 'tee', 'sed', 'grep', 'awk', 'find', 'xargs', 'flock', 'nsenter',
  'containerd', 'containerd-shim-runc-v2', 'ctr', 'docker', 'dockerd', 'runc', 'tini',
];

export const FLATCAR_USR_COMMANDS: ReadonlySet<string> = new Set(BIN.map((name) => `/usr/bin/${name}`));
