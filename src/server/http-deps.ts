/**
 * fastify and its OpenAPI generator, loaded only when the search server starts. The CLI
 * bundle keeps them in a bundle of their own (dist/server-deps.js, see esbuild.mjs), so
 * every other command starts without reading them.
 */
export { default as fastify } from 'fastify';
export { default as swagger } from '@fastify/swagger';
