import { Command, InvalidArgumentError } from 'commander';
import { SERVER_VERSION } from './http/app.js';
import { startServer, StartupError } from './server.js';

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
    'longest a database query may run before it is stopped (a search past it is a 400)',
    parsePositiveInteger,
    process.env.THREADLINE_QUERY_TIMEOUT_MS ? parsePositiveInteger(process.env.THREADLINE_QUERY_TIMEOUT_MS) : 30_000,
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
  .action(async (options: { host: string; port: number; backendStoreUri: string; logLevel: string; queryTimeoutMs: number; allowedHosts: string[]; allowedOrigins: string[] }) => {
    try {
      const server = await startServer({ ...options, queryTimeoutMillis: options.queryTimeoutMs });
      process.stdout.write(`Threadline ${SERVER_VERSION} listening on ${server.url} (store: ${server.storeDescription})\n`);
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
