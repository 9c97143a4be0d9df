// The benchmark runner's command line (bench/run.ts, docs/BENCHMARKS.md "How to run"). Only the
// documented options are accepted: a mistyped one (or --help) must not start a 14-minute run.

export interface RunArgs {
  /** Print the usage and exit 0. */
  help: boolean;
  /** The short configuration (`--quick`). */
  quick: boolean;
  /** Processes per case (`--runs N`); undefined = 3 with --quick, else 5. */
  runs: number | undefined;
  /** Case ids to run (`--only a,b`); null = all. Checked against the cases by the runner. */
  only: string[] | null;
  /** Also write the JSON document to this file (`--out FILE`). */
  out: string | undefined;
}

/** A command line the runner refuses: one line, exit 2. */
export class RunArgsError extends Error {}

export const RUN_USAGE = `usage: npm run -s bench [-- OPTIONS]   (or: node dist/bench/run.js [OPTIONS])
Runs every benchmark case in separate child processes, interleaved, and prints one JSON
document on stdout (progress on stderr). A full run takes about 14 minutes.
  --quick        the short configuration (about 35 s with 3 processes per case)
  --only IDS     only these cases, comma-separated (e.g. router-core,pipeline)
  --runs N       processes per case (default 3 with --quick, else 5)
  --out FILE     also write the JSON document to FILE
  --help, -h     this text
Cases and what they measure: docs/BENCHMARKS.md.`;

export function parseRunArgs(argv: readonly string[]): RunArgs {
  const a: RunArgs = { help: false, quick: false, runs: undefined, only: null, out: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const value = (): string => {
      const v = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (v === undefined || v === '' || (eq < 0 && v.startsWith('--'))) throw new RunArgsError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--help':
      case '-h':
        a.help = true;
        break;
      case '--quick':
        if (eq >= 0) throw new RunArgsError('--quick takes no value');
        a.quick = true;
        break;
      case '--runs': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1000) throw new RunArgsError(`--runs needs a whole number from 1 to 1000, got "${v}"`);
        a.runs = Number(v);
        break;
      }
      case '--only':
        a.only = value().split(',').filter((s) => s !== '');
        if (a.only.length === 0) throw new RunArgsError('--only needs case ids, comma-separated');
        break;
      case '--out':
        a.out = value();
        break;
      default:
        throw new RunArgsError(arg.startsWith('-') ? `unknown option ${name}` : `unexpected argument "${arg}"`);
    }
  }
  return a;
}
