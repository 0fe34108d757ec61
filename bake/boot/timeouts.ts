/** How long a checked boot (`bake boot --check`, `bake --smoke-test`) may take before it counts as failed. */
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 600;
