// Preloaded by scripts/bench.ts: reports this process's peak resident memory when it exits.
process.on("exit", () => {
  process.stderr.write(`\nBENCH_PEAK_RSS_KB=${process.resourceUsage().maxRSS}\n`);
});
