/**
 * The Node.js version check the `bore` command runs before anything else
 * (`src/cli/bin.ts`). Kept to plain syntax and no imports: the bin entry is bundled for
 * old Node versions so that it can say the version is too old instead of failing to
 * parse the CLI bundle.
 */

/** The oldest Node.js the package supports (`engines.node` in package.json), as [major, minor]. */
export const MIN_NODE: readonly [number, number] = [20, 19];

/**
 * The one line to print when `version` (as in `process.versions.node`, e.g. `18.20.4`)
 * is older than {@link MIN_NODE}; `undefined` when it is recent enough.
 */
export function nodeVersionProblem(version: string): string | undefined {
  const parts = version.replace(/^v/, '').split('.');
  const major = Number(parts[0]);
  const minor = Number(parts[1] ?? 0);
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  // A version we cannot read is given the benefit of the doubt.
  if (ok || !Number.isInteger(major) || !Number.isInteger(minor)) return undefined;
  return `bore needs Node.js >= ${MIN_NODE[0]}.${MIN_NODE[1]}, this is ${version.replace(/^v/, '')}`;
}
