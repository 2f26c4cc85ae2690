import type { BuildResult } from 'esbuild';

export function buildWebview(options?: { production?: boolean; outdir?: string }): Promise<BuildResult>;
