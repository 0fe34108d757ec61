/**
 * SHA-256 digests of the flatcar/scripts files bake runs, pinned because Flatcar signs nothing that
 * covers them: the release tags are PGP-signed by the releasing engineer's personal key, and neither a
 * GitHub source tarball nor a raw file carries that signature (docs/security.md, "Code that runs").
 */

/**
 * Every build_library/qemu_template.sh a release tag of flatcar/scripts has held (blob bytes, as a raw
 * download serves them), from alpha-2592.0.0 to alpha-4790.0.0, beta-4757.1.0, stable-4593.2.5 and
 * lts-4081.3.10 (main @ ab6d76d957, 2026-08-22). The launcher is copied into the output as an
 * executable, so only a version some release shipped is accepted. Newer templates: --scripts-sha256.
 */
export const QEMU_TEMPLATE_SHA256: ReadonlySet<string> = new Set([
  'bec4bf1e40cf62454494eb8fd592660eae37b11234c5a70c90f2ec5a86c2cff0',
  '875f6dc1ed207062806de793d90ff7c94991214773f50fa4e5c1462cc32af8cc',
  'a94032eaabdad7b596088d159c92b9691656fde2a8c9a5450069a5b0319604ac',
  '0504ed029af0a0533d7b53a64a71bdeb36ab6bf24822eb4f672f5d165cae9952',
  '77b0b4e5e0e742dbaec07617822821afde45d62b8f45c805b2a065c30082dc30',
  '28b968d6c9edc00dfffcd368ab3e360c111b5e2d4a13ad9fa32b97f709158896',
  'c781be049feb4733a991809c9b379dbf8306d1eaaf4e601ac3df074cbe4005a4',
  '1e3af1b4c2911c81f29dff5c84fcd36296657dd7882ce56d707d2ffc163a75dc',
  '04dfa560be6d83b27ee9e6b9d61ba6e12a6e002ec4d51f20bbceb2edfa365ef5',
  '17ecb8570130d2f59452e20e1dfc1fc42ac2de71add45a52e0864541bcd072cd',
  'd8b06b2365eb01f5b5ab081a37ac3e9a7e8b61063f26173f8484955b9a23d2f6',
  '2fdcf5d472a9bf44dbbd04f61dd6d41f60b5284a396075a890fedd87db8b078b',
  '453cda02423c67aaec4ddca04861087c315910e39edf5e66bffbb1f1fa116401',
  '9625bc60a188fe412470feb7a849f113a5c0f2d9507e3d7722c44ba714fae287',
  'ebd4e1b9033188212e3a327b6aa97f610516023981d903bb0eb0bbe82412bc67',
]);

/**
 * `sha256sum` of the source tarball the SDK route downloads, per tag (`<channel>-<version>`). A row is
 * added only from a tarball checked against the signed tag's tree; a tag without one needs
 * --scripts-sha256 (or --insecure-scripts), since its scripts run as root in a privileged container.
 */
export const SCRIPTS_TARBALL_SHA256: Readonly<Record<string, string>> = {};
