#!/usr/bin/env bash
# Prints vendors/scripts-pins.ts's SCRIPTS_TAG_TREES table from a clone of flatcar/scripts with its tags:
# the git tree id of every release tag `<channel>-<version>` from 4081 on. GitHub's source tarballs are
# produced on demand and their bytes may change, but what they hold is exactly the tag's tree, so bake
# pins that. Only annotated, PGP-signed tags are taken; a signature is checked when this host's keyring
# holds the signer's key (the release engineers' keys are not published in the repository).
#   scripts/scripts-pins.sh /path/to/flatcar-scripts(.git)
set -euo pipefail

git_dir=${1:?usage: scripts/scripts-pins.sh <flatcar/scripts git dir>}
first_major=4081
git=(git -C "$git_dir")

tags=$("${git[@]}" tag --list | grep -E '^(alpha|beta|stable|lts)-[0-9]+\.[0-9]+\.[0-9]+$' |
  awk -F'[-.]' -v first="$first_major" '$2 >= first' | sort -t- -k2,2V -k1,1)

rows='' verified=0 count=0
for tag in $tags; do
  if [ "$("${git[@]}" cat-file -t "refs/tags/$tag")" != tag ] ||
     ! "${git[@]}" cat-file tag "refs/tags/$tag" | grep -q '^-----BEGIN PGP SIGNATURE-----$'; then
    echo "scripts-pins: $tag is not a signed annotated tag; refusing to pin it" >&2
    exit 1
  fi
  if "${git[@]}" verify-tag "refs/tags/$tag" >/dev/null 2>&1; then verified=$((verified + 1)); fi
  rows+="  '$tag': '$("${git[@]}" rev-parse "refs/tags/$tag^{tree}")',"$'\n'
  count=$((count + 1))
done

last=${tag:?no release tags from $first_major on in $git_dir}
last_commit=$("${git[@]}" log -1 --format='%h, %cs' "refs/tags/$last^{commit}")
cat <<TS
/**
 * The git tree id of every flatcar/scripts release tag (\`<channel>-<version>\`, $first_major and later): what
 * the SDK route's source tarball must hold, checked by extracting it and hashing it with git. Taken from
 * the annotated, PGP-signed tags ($count tags, up to $last at $last_commit; $verified of the $count
 * signatures verified here, the signers' keys not being in the repository) by scripts/scripts-pins.sh.
 */
export const SCRIPTS_TAG_TREES: Readonly<Record<string, string>> = {
${rows}};
TS
