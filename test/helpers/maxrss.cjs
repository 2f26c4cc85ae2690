/* eslint-disable @typescript-eslint/no-require-imports, no-undef -- plain CommonJS, preloaded with node --require */
// Preloaded into a child process (node --require): on exit, writes its peak resident set
// size in bytes (worker threads included) to the file named by OMLMD_TEST_MAXRSS_FILE.
const { writeFileSync } = require('node:fs');

const file = process.env.OMLMD_TEST_MAXRSS_FILE;
if (file) {
  process.on('exit', () => {
    writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
  });
}
