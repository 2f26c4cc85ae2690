import type { BuildResult, Plugin } from 'esbuild';

export function buildWebview(options?: { production?: boolean; outdir?: string }): Promise<BuildResult>;

/** Resolves `omlmd:metadata-validator` to the metadata schema compiled by ajv at build time. */
export const metadataValidator: Plugin;
