// Preloaded with `node --require` by tests that bound a command's memory: prints its peak RSS at exit.
process.on('exit', () => process.stderr.write(`\nmaxRSS_KB=${process.resourceUsage().maxRSS}\n`));
