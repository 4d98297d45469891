import { Command, InvalidArgumentError } from 'commander';
import { SERVER_VERSION } from './http/app.js';
import { startServer, StartupError } from './server.js';
import { AccountStore, PERMISSIONS, type Permission } from './store/accounts.js';
import { createStore } from './store/create-store.js';
import { erasureJson } from './http/erasures.js';
import { checkedModelName, priceField } from './http/prices.js';
import type { TraceStore } from './store/store.js';
import { DETECTOR_NAMES } from './redaction/detectors.js';
import { checkedRules, parseDetectorList, parsePatternAssignment, RedactionRuleError, type CustomPattern, type RedactionRules } from './redaction/rules.js';
import type { TraceRange } from './store/trace-ranges.js';

/** The `threadline` command. Reads the environment and flags here, and nowhere below. */
const program = new Command()
  .name('threadline')
  .description('Threadline: tracing for LLM applications, by user and by session.')
  .version(SERVER_VERSION);

program
  .command('server')
  .description('Run the tracking server (MLflow-compatible REST API) on SQLite or PostgreSQL.')
  .option('--host <host>', 'address to listen on', process.env.THREADLINE_HOST ?? '127.0.0.1')
  .option('--port <port>', 'port to listen on', parsePort, process.env.THREADLINE_PORT ? parsePort(process.env.THREADLINE_PORT) : 5000)
  .option(
    '--backend-store-uri <uri>',
    'sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host:port/db',
    process.env.THREADLINE_BACKEND_STORE_URI ?? 'sqlite:///threadline.db',
  )
  .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', process.env.THREADLINE_LOG_LEVEL ?? 'warn')
  .option(
    '--query-timeout-ms <ms>',
    'longest a search may run before it is stopped (then a 400); default 30000 on PostgreSQL, 10000 on SQLite',
    parsePositiveInteger,
    process.env.THREADLINE_QUERY_TIMEOUT_MS ? parsePositiveInteger(process.env.THREADLINE_QUERY_TIMEOUT_MS) : undefined,
  )
  .option(
    '--allowed-hosts <names>',
    'comma-separated host names the server answers to besides localhost and its own addresses (* for any)',
    parseList,
    parseList(process.env.THREADLINE_ALLOWED_HOSTS ?? ''),
  )
  .option(
    '--allowed-origins <origins>',
    'comma-separated web origins (https://app.example.com) whose pages may change data, besides its own',
    parseList,
    parseList(process.env.THREADLINE_ALLOWED_ORIGINS ?? ''),
  )
  .option('--auth', 'require accounts and API tokens (THREADLINE_AUTH=true); needed to listen on a non-loopback address')
  .option('--no-auth', 'run without accounts on a non-loopback address, behind something that authenticates (THREADLINE_AUTH=false)')
  .option('--default-permission <permission>', 'what an account may do in an experiment it was given no permission on', parsePermission, parsePermission(process.env.THREADLINE_DEFAULT_PERMISSION ?? 'READ'))
  .option('--redact <detectors>', `redact at ingest, in every experiment, what these built-in detectors find (THREADLINE_REDACT): comma-separated among ${DETECTOR_NAMES.join(', ')}, or all`, ruleOption(parseDetectorList))
  .option(
    '--redact-pattern <name=regex>',
    'also redact what this RE2 pattern finds, as [REDACTED:name]; repeat for more (THREADLINE_REDACT_PATTERNS: one name=regex a line)',
    (value: string, previous: CustomPattern[] = []) => [...previous, ruleOption(parsePatternAssignment)(value)],
  )
  .addHelpText(
    'after',
    '\nWith --auth, THREADLINE_ADMIN_USERNAME and THREADLINE_ADMIN_PASSWORD create an admin account at start-up if it does not exist.',
  )
  .action(async (options: { host: string; port: number; backendStoreUri: string; logLevel: string; queryTimeoutMs?: number; allowedHosts: string[]; allowedOrigins: string[]; auth?: boolean; defaultPermission: Permission; redact?: RedactionRules['detectors']; redactPattern?: CustomPattern[] }) => {
    try {
      const redaction = redactionRulesOf(options.redact, options.redactPattern);
      const auth = options.auth ?? booleanFromEnv('THREADLINE_AUTH');
      const admin = process.env.THREADLINE_ADMIN_USERNAME && process.env.THREADLINE_ADMIN_PASSWORD ? { username: process.env.THREADLINE_ADMIN_USERNAME, password: process.env.THREADLINE_ADMIN_PASSWORD } : undefined;
      const server = await startServer({
        ...options,
        ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMillis: options.queryTimeoutMs } : {}),
        ...(process.env.THREADLINE_ERASE_LEASE_MS ? { eraseLeaseMillis: parsePositiveInteger(process.env.THREADLINE_ERASE_LEASE_MS) } : {}),
        ...(process.env.THREADLINE_RETENTION_INTERVAL_MS ? { retentionIntervalMillis: parsePositiveInteger(process.env.THREADLINE_RETENTION_INTERVAL_MS) } : {}),
        ...(auth !== undefined ? { auth } : {}),
        ...(admin ? { bootstrapAdmin: admin } : {}),
        redaction,
      });
      const redacted = [...redaction.detectors, ...redaction.patterns.map((p) => p.name)];
      process.stdout.write(
        `Threadline ${SERVER_VERSION} listening on ${server.url} (store: ${server.storeDescription}${auth ? '; accounts required' : ''}${redacted.length > 0 ? `; redacting ${redacted.join(', ')}` : ''})\n`,
      );
      const stop = () => {
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    } catch (error) {
      process.stderr.write(`threadline: ${error instanceof StartupError ? error.message : String((error as Error)?.stack ?? error)}\n`);
      process.exit(error instanceof StartupError ? error.exitCode : 1);
    }
  });

program
  .command('create-account')
  .description('Create an account on the store (the password comes from THREADLINE_PASSWORD or the first line of standard input).')
  .requiredOption('--username <name>', 'the account to create')
  .option('--admin', 'make it an admin', false)
  .option('--backend-store-uri <uri>', 'the store, as for `threadline server`', process.env.THREADLINE_BACKEND_STORE_URI ?? 'sqlite:///threadline.db')
  .action(async (options: { username: string; admin: boolean; backendStoreUri: string }) => {
    const password = process.env.THREADLINE_PASSWORD ?? (await firstLineOfStdin());
    if (password.length < 8) {
      process.stderr.write('threadline: a password of at least 8 characters is needed (THREADLINE_PASSWORD or standard input).\n');
      process.exit(2);
    }
    const store = await createStore(options.backendStoreUri);
    try {
      const accounts = new AccountStore(store.db);
      await accounts.createAccount({ username: options.username, password, isAdmin: options.admin });
      await accounts.audit('system', 'account.create', options.username, { is_admin: options.admin, from: 'threadline create-account' });
      process.stdout.write(`Created ${options.admin ? 'admin ' : ''}account '${options.username}'.\n`);
    } catch (error) {
      process.stderr.write(`threadline: ${(error as Error).message}\n`);
      process.exitCode = 1;
    } finally {
      await store.close();
    }
  });

const STORE_OPTION = ['--backend-store-uri <uri>', 'the store, as for `threadline server`', process.env.THREADLINE_BACKEND_STORE_URI ?? 'sqlite:///threadline.db'] as const;

const prices = program.command('prices').description("Operators' model prices (USD per million tokens), which win over the bundled price table.");

prices
  .command('list')
  .description('List the prices set.')
  .option(...STORE_OPTION)
  .action(async (options: { backendStoreUri: string }) =>
    withStore(options.backendStoreUri, async (store) => {
      const list = await store.pricing.list();
      if (list.length === 0) process.stdout.write('No prices set: every model is priced from the bundled table.\n');
      for (const p of list) {
        const cached = [p.cacheReadPerMtok !== null ? `cache read ${p.cacheReadPerMtok}` : '', p.cacheWritePerMtok !== null ? `cache write ${p.cacheWritePerMtok}` : ''].filter(Boolean).join(', ');
        process.stdout.write(`${p.model}: input ${p.inputPerMtok}, output ${p.outputPerMtok}${cached ? `, ${cached}` : ''} (set by ${p.updatedBy}, ${new Date(p.updatedTimeMs).toISOString()})\n`);
      }
    }),
  );

prices
  .command('set <model>')
  .description('Set or change the price of a model; it applies to traces logged afterwards (reprice applies it to stored ones).')
  .requiredOption('--input <usd>', 'USD per million input tokens', parseNumber)
  .requiredOption('--output <usd>', 'USD per million output tokens', parseNumber)
  .option('--cache-read <usd>', 'USD per million cached input tokens read (default: the input price)', parseNumber)
  .option('--cache-write <usd>', 'USD per million input tokens written to a cache (default: the input price)', parseNumber)
  .option(...STORE_OPTION)
  .action(async (model: string, options: { input: number; output: number; cacheRead?: number; cacheWrite?: number; backendStoreUri: string }) =>
    withStore(options.backendStoreUri, async (store) => {
      const fields = { input_per_mtok: options.input, output_per_mtok: options.output, cache_read_per_mtok: options.cacheRead, cache_write_per_mtok: options.cacheWrite };
      const name = checkedModelName(model);
      await store.pricing.set({
        model: name,
        inputPerMtok: priceField(fields, 'input_per_mtok', true),
        outputPerMtok: priceField(fields, 'output_per_mtok', true),
        cacheReadPerMtok: priceField(fields, 'cache_read_per_mtok', false),
        cacheWritePerMtok: priceField(fields, 'cache_write_per_mtok', false),
        updatedTimeMs: Date.now(),
        updatedBy: 'threadline prices set',
      });
      process.stdout.write(`Price of '${name}' set. Run \`threadline reprice\` to apply it to traces already stored.\n`);
    }),
  );

prices
  .command('delete <model>')
  .description('Remove the price of a model: the bundled table prices it again (or nothing does).')
  .option(...STORE_OPTION)
  .action(async (model: string, options: { backendStoreUri: string }) =>
    withStore(options.backendStoreUri, async (store) => {
      if (!(await store.pricing.remove(checkedModelName(model)))) throw new Error(`No price is set for model '${model}'.`);
      process.stdout.write(`Price of '${model}' removed.\n`);
    }),
  );

/**
 * The stored traces a maintenance command walks (store/trace-ranges.ts), its range checked, its
 * progress told on stderr every 10,000 traces.
 */
function traceRange(options: { from: number; to: number; experimentId?: string }, progress: string): TraceRange {
  if (options.to <= options.from) throw new Error(`--to (${new Date(options.to).toISOString()}) must be after --from (${new Date(options.from).toISOString()}).`);
  let shown = 0;
  return {
    fromMs: options.from,
    toMs: options.to,
    ...(options.experimentId !== undefined ? { experimentId: options.experimentId } : {}),
    onProgress: (n) => {
      if (n - shown >= 10_000) process.stderr.write(`${(shown = n)} ${progress}...\n`);
    },
  };
}

program
  .command('reprice')
  .description("Price the stored traces of a time range again with today's prices, keeping every rollup exact; safe to run while the server runs.")
  .requiredOption('--from <time>', 'start of the range (ISO 8601 date or time, or ms since the epoch), inclusive', parseTime)
  .requiredOption('--to <time>', 'end of the range, exclusive', parseTime)
  .option('--experiment-id <id>', 'only this experiment (default: all)')
  .option(...STORE_OPTION)
  .action(async (options: { from: number; to: number; experimentId?: string; backendStoreUri: string }) =>
    withStore(options.backendStoreUri, async (store) => {
      const priced = await store.pricing.reprice(traceRange(options, 'traces priced'));
      process.stdout.write(`Priced ${priced} trace${priced === 1 ? '' : 's'} again.\n`);
    }),
  );

program
  .command('reindex-text')
  .description('Index the words of stored traces again for word search (trace.text MATCH), e.g. traces stored before the text index existed; safe to run while the server runs.')
  .option('--from <time>', 'start of the range (ISO 8601 date or time, or ms since the epoch), inclusive (default: the beginning)', parseTime)
  .option('--to <time>', 'end of the range, exclusive (default: now)', parseTime)
  .option('--experiment-id <id>', 'only this experiment (default: all)')
  .option(...STORE_OPTION)
  .action(async (options: { from?: number; to?: number; experimentId?: string; backendStoreUri: string }) =>
    withStore(options.backendStoreUri, async (store) => {
      const range = { ...options, from: options.from ?? 0, to: options.to ?? Date.now() + 1 };
      const indexed = await store.textIndex.reindex(traceRange(range, 'traces with text indexed'));
      process.stdout.write(`Indexed ${indexed} trace${indexed === 1 ? '' : 's'} with text.\n`);
    }),
  );

for (const kind of ['user', 'session'] as const) {
  program
    .command(`erase-${kind} <${kind}_id>`)
    .description(`Erase every trace of a ${kind} (spans, metadata, tags, assessments${kind === 'user' ? ', and the feedback the user gave' : ''}) with its rollups kept exact, and print the receipt.`)
    .option('--experiment-id <id>', kind === 'user' ? 'only this experiment (default: every experiment)' : 'the experiment of the session (required)')
    .option(...STORE_OPTION)
    .action(async (id: string, options: { experimentId?: string; backendStoreUri: string }) =>
      withStore(options.backendStoreUri, async (store) => {
        let experimentIds: string[];
        if (options.experimentId !== undefined) experimentIds = [options.experimentId];
        else if (kind === 'session') throw new Error('--experiment-id is required to erase a session.');
        else experimentIds = (await store.searchExperiments({ viewType: 'ALL', maxResults: 100_000, offset: 0 })).map((e) => e.experimentId);
        const erasureId = await store.erasures.start(kind, id, experimentIds, `threadline erase-${kind}`);
        const receipt = await store.erasures.run(erasureId);
        process.stdout.write(`${JSON.stringify(erasureJson(receipt), null, 2)}\n`);
      }),
    );
}

/** Runs a command on the store and closes it; a failure is one line on stderr and exit code 1. */
async function withStore(uri: string, run: (store: TraceStore) => Promise<void>): Promise<void> {
  let store: TraceStore | undefined;
  try {
    store = await createStore(uri);
    await run(store);
  } catch (error) {
    process.stderr.write(`threadline: ${(error as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await store?.close();
  }
}

function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${value}' is not a number.`);
  return n;
}

function parseTime(value: string): number {
  const ms = /^\d+$/.test(value.trim()) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`'${value}' is not a time: write 2026-11-01, 2026-11-01T12:00:00Z or milliseconds since the epoch.`);
  return ms;
}

async function firstLineOfStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/** A commander argument parser from a redaction rule parser: its errors become commander's. */
function ruleOption<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof RedactionRuleError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

/** The server's redaction rules: the flags, else THREADLINE_REDACT and THREADLINE_REDACT_PATTERNS. */
function redactionRulesOf(detectors: RedactionRules['detectors'] | undefined, patterns: CustomPattern[] | undefined): RedactionRules {
  try {
    return checkedRules({
      detectors: detectors ?? fromVariable('THREADLINE_REDACT', (text) => parseDetectorList(text)),
      patterns: patterns ?? fromVariable('THREADLINE_REDACT_PATTERNS', (text) => text.split(/\r?\n/).filter((line) => line.trim() !== '').map(parsePatternAssignment)),
    });
  } catch (error) {
    if (error instanceof RedactionRuleError) throw new StartupError(error.message, 2);
    throw error;
  }
}

/** A rule read from an environment variable; its errors name the variable. */
function fromVariable<T>(name: string, parse: (text: string) => T): T {
  try {
    return parse(process.env[name] ?? '');
  } catch (error) {
    if (error instanceof RedactionRuleError) throw new RedactionRuleError(`${name}: ${error.message}`);
    throw error;
  }
}

function booleanFromEnv(name: string): boolean | undefined {
  const value = process.env[name]?.trim().toLowerCase();
  if (value === undefined || value === '') return undefined;
  return value === 'true' || value === '1' || value === 'yes';
}

function parsePermission(value: string): Permission {
  const permission = value.trim().toUpperCase();
  if (!(PERMISSIONS as readonly string[]).includes(permission)) throw new InvalidArgumentError(`'${value}' is not a permission: ${PERMISSIONS.join(', ')}.`);
  return permission as Permission;
}

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a positive whole number.`);
  return n;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`'${value}' is not a port number (0-65535).`);
  return port;
}

await program.parseAsync(process.argv);
