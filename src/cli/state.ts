/** The CLI's process-wide state, light enough for the entry to load before any command module. */
declare const OMLMD_VERSION: string | undefined;
export const version = typeof OMLMD_VERSION === 'string' ? OMLMD_VERSION : '0.0.0-dev';

export const controller = new AbortController();
export const state = { interrupted: false };
