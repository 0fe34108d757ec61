/**
 * What the flatcar/scripts files bake runs must be, pinned because Flatcar signs nothing that covers
 * them: the release tags are PGP-signed by the releasing engineer's personal key, and neither a GitHub
 * source tarball nor a raw file carries that signature (docs/security.md, "Code that runs").
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

// Generated: scripts/scripts-pins.sh <flatcar/scripts git dir> prints everything below.
/**
 * The git tree id of every flatcar/scripts release tag (`<channel>-<version>`, 4081 and later): what
 * the SDK route's source tarball must hold, checked by extracting it and hashing it with git. Taken from
 * the annotated, PGP-signed tags (84 tags, up to alpha-4790.0.0 at 3ea47359d9, 2026-08-12; 0 of the 84
 * signatures verified here, the signers' keys not being in the repository) by scripts/scripts-pins.sh.
 */
export const SCRIPTS_TAG_TREES: Readonly<Record<string, string>> = {
  'alpha-4081.0.0': '8ae5d7f675acf7fc18c02aa1b79edaba6dd7ac43',
  'beta-4081.1.0': '23d44555d564c80eefc509ab651e70808ebdd489',
  'stable-4081.2.0': 'cdefc869d8d3d3ddb823f2584bec3454597a169a',
  'stable-4081.2.1': '09e37c7cb2c154f15d397eef809fa9a22436d912',
  'lts-4081.3.0': '3a290e38a66b81da57b5247c48ed67de404998d6',
  'lts-4081.3.1': '6313f02a65a0717086196f9c4af88f828991861a',
  'lts-4081.3.2': '06e05a1b6d25aa93557d6fd3f7022f17dc26b0bd',
  'lts-4081.3.3': '4b9327cfc96f78c78cd24110ab19a8ab145fdc14',
  'lts-4081.3.4': 'bbe96b108b086e1e22bef2a4352485de71edc5ad',
  'lts-4081.3.5': '6919cbeea8e42506fd33e806a17c66069b573c81',
  'lts-4081.3.6': '5779438c9753e3b184f9830792402b3d7c233fd3',
  'lts-4081.3.7': 'bd43f27f832fcb6428090b1ab6eb4ec7779abd1a',
  'lts-4081.3.8': '92abf16d4efbf196043c94e8c537ca94109e5647',
  'lts-4081.3.9': 'f6074805ae1829749aedc0a398c48f77547a1b2d',
  'lts-4081.3.10': '905e76ec2782d97d846bbf9802e59a7bfd056e1f',
  'alpha-4116.0.0': '636aadadfaecf023ee2ca67eaba4bbdbf35bc1a1',
  'beta-4116.1.0': '354c5634f933674c79ca84702e24cfbc0c3ce1e2',
  'alpha-4152.0.0': 'a7f945865ac0572a5a545dd5b19928a0433ac01d',
  'beta-4152.1.0': '60d01a6ff98ce9fbda970e6cbbe07ba3a3e25df5',
  'stable-4152.2.0': '46140665d50381928d5cfabefb35ac223d2f6056',
  'stable-4152.2.1': '0930a6147e05fa04dad8cb7edb1b13aae76e7939',
  'stable-4152.2.2': 'fde12aa41f3819605beb69f5b679ffc6de0d3c9f',
  'stable-4152.2.3': 'df6f2c4fa0827c76bd59ebae670b27d81907c6d3',
  'alpha-4186.0.0': '52a0bfa348f6254a88af666c969f30599f1a5750',
  'beta-4186.1.0': 'e3816a13256362ffcc5d7a2d3d61e7bf0bf17814',
  'beta-4186.1.1': 'c786656da3b46502de5d02f1b08e5d00d050da3e',
  'alpha-4214.0.0': 'e29a547b58a38ab0e34cc0b139a180c2e10961e8',
  'alpha-4230.0.0': '41b3060c6060c8ee69ebe5e383a18e467cd869d1',
  'alpha-4230.0.1': '698a9b01739578fe34e37cc8f9427d38e58bcbd6',
  'beta-4230.1.0': 'd420348849175f911469645c375365598ce61376',
  'beta-4230.1.1': 'aaa0b369ebdb339145742adf68c141c4eb225dea',
  'stable-4230.2.0': '299224311d23d4c846a2fe5fe5051b21c3a50a00',
  'stable-4230.2.1': '0b3f3d46ac75e53b134aa08013d2c7a48f304bb2',
  'stable-4230.2.2': '4129efbd6569231baadae8972ff055791f7ecb16',
  'stable-4230.2.3': '92a058b8e4e6c19698e6cfc75363f71a4931448b',
  'stable-4230.2.4': '49dd7941e53a15f526e64440ff1ae0da115ab361',
  'alpha-4277.0.0': '5bb8d8b90175b0aac1ebf7ad3241ef5370a62b93',
  'alpha-4284.0.0': 'd310ae34aab045e7808a8cbdd5bb518c19c4fc00',
  'alpha-4344.0.0': '63fded6659510c94e4b10e12847cad6e155ec1ce',
  'beta-4344.1.0': 'bc7f1b2297fe3476f997521514bec9f849383643',
  'beta-4344.1.1': 'f8cce67bf0d481b6adb20e0bcb30d4cffdca8736',
  'alpha-4372.0.0': '687e44e44daf38a8c854d7317d5c8a1a79b41ba6',
  'alpha-4372.0.1': '134334b619e04b8f7ae4cd03a5ab7a9e866d679e',
  'beta-4372.1.0': 'bb8729c3ba3bb2b46eeec50ed1e828b67c363dd1',
  'alpha-4426.0.0': '0694759bd489efd6640eec1a581b21ba264f6c1d',
  'beta-4426.1.0': 'f5a75de16dea1a7922f709f8e174501ee6fac105',
  'alpha-4459.0.0': '490f9f75aa0a4ec6bd802fbd79e41bf6111d0ec9',
  'beta-4459.1.0': '7b5edd8a618578a12df697591c097c2ae7ca25a9',
  'beta-4459.1.1': 'ec22dcd5eca0d272e52889fdb5b4b4a33e2504ef',
  'beta-4459.1.2': 'c8ef78f83774acb70db2c70c96e675280b87b1e1',
  'stable-4459.2.0': '1f894500c4a5dacec3b1d73b5a393f5f0a342664',
  'stable-4459.2.1': 'caf44d6b2da6073e6946bac2078106b3e35ed5d7',
  'stable-4459.2.2': 'c1c1de3ed1244ff0a62522b495cbb6ac92850cf1',
  'stable-4459.2.3': 'aa0daf791d84e3fb180d846138fbb50789d745cd',
  'stable-4459.2.4': '1ab56e9cd803d47cb9e90bd2b14841cf4816c1e4',
  'alpha-4487.0.0': 'fe99b45563f26a674889062458efbaa86e6dc53d',
  'alpha-4487.0.1': '92f914581b666a272fdcdd77f8563cb28bc315d1',
  'alpha-4515.0.0': '76a2a13f1157d044bf741112f32b4899ea2d51ea',
  'alpha-4515.0.1': 'dbb89b2fa69fe0f16eb0cb53168aaef569998944',
  'beta-4515.1.0': 'd9a936ffc54cc557f2c7d5ef413dd32191e3ec87',
  'alpha-4547.0.0': 'a8e08f7ea588ee41cc2f7a743cc0c344c7ce364b',
  'beta-4547.1.0': '0b992fa04178bb65b7f257b5283f6ba344683f8c',
  'alpha-4593.0.0': '1ce88ebe4c289f0ddaa330e38eb70089f39b87b4',
  'beta-4593.1.0': '1e7e157c14572e8fb841e516c0d4b4a74720700e',
  'stable-4593.2.0': '8aa86486e00ba8f94f767f8825c3c26c08991753',
  'stable-4593.2.1': '5077fb1d954350fb7a1e7a5bd2aab897acb856c7',
  'stable-4593.2.2': 'bbba5e3c71917418a90eacf85338d8b1547aebfd',
  'stable-4593.2.3': 'fa685552944871b507350caef2f3e8da128f155c',
  'stable-4593.2.4': '02fdcff9b97f51a3eeb591f3e0afbfcc499a97eb',
  'stable-4593.2.5': 'b25d80a1d25ee6239468b6fff87b9f2ef275cbfe',
  'alpha-4628.0.0': '5471945b52b687699c440b9c431a82df3bcab9e3',
  'beta-4628.1.0': '3662a1f977f203d80c3e8a1688c962ded2f8754f',
  'beta-4628.1.1': '2744fa419bd6c761a05df23cdd995803e21ed6d3',
  'beta-4628.1.2': '7cdfb8c8e3f8418d4deb608a88770f620976a90f',
  'alpha-4669.0.0': '09023b5b27a07720893c5042f830fa2344b2d6a2',
  'alpha-4694.0.0': 'a9e36109aba3470f363f16109e1f65eaad4791df',
  'alpha-4694.0.1': '683fa575b9394f39f81668a75d394e3d17cd6f99',
  'beta-4694.1.0': '278155d81276d6a91d1370ac35597bd0a6411192',
  'beta-4694.1.1': 'fd09a84081abf4ae1df40ff852ab32b7a9a2da3b',
  'alpha-4722.0.0': 'd3352a07adfe84637f04d0d84d10651cae86ccb5',
  'beta-4722.1.0': '8b12fe3137544f4d473968adaeae5b1529dcfc52',
  'alpha-4757.0.0': 'c184fbe3541e5d3878e9ddfb58915d666d5b0d96',
  'beta-4757.1.0': 'b063d7e132e9275a0bcac99863dce574b1516892',
  'alpha-4790.0.0': '35eff7820d2f0bd7f2c08691508e5d288657c41a',
};
