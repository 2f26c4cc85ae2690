/**
 * fastify and its OpenAPI generator, loaded only when the search server starts. The CLI's
 * split bundle puts them in a chunk of their own under dist/cli/ (see esbuild.mjs), which
 * only `omlmd serve` imports, so every other command starts without reading them.
 */
export { default as fastify } from 'fastify';
export { default as swagger } from '@fastify/swagger';
