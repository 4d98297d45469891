import { combineRules, isEmptyRules, type RedactionRules } from './rules.js';
import { TextRedactor } from './text-redactor.js';

/**
 * How long a replica redacts with the experiments' rules it read before it reads them again.
 * Rules set through this replica apply at once; through another one, within this delay.
 */
export const REDACTION_RULES_REFRESH_MS = 2_000;

/** Where experiments' own rules are kept (store/redaction-rules.ts). */
export interface ExperimentRulesSource {
  list(): Promise<Map<string, RedactionRules>>;
}

/**
 * Which rules apply to what is written into each experiment: the server's (`--redact`), plus the
 * experiment's own, which add to them and never take any away. Experiments' rules are read from
 * the database all at once and kept, refreshed in the background every
 * {@link REDACTION_RULES_REFRESH_MS} (no write waits for it, except the first one and the first
 * after {@link invalidate}). A redactor is compiled once per rule set and reused.
 *
 * @example
 * const policy = new RedactionPolicy({ detectors: ['email'], patterns: [] }, store.redactionRules);
 * const redactor = await policy.forExperiment('1'); // null: nothing to redact there
 */
export class RedactionPolicy {
  /** The server's rules alone, for experiments without rules of their own; null when there are none. */
  readonly serverRedactor: TextRedactor | null;
  private rules: Map<string, RedactionRules> | undefined;
  private readonly compiled = new Map<string, { rules: RedactionRules; redactor: TextRedactor }>();
  private readAt = 0;
  /** Bumped by invalidate(); a read started before the bump does not count as fresh. */
  private generation = 0;
  private loadedGeneration = -1;
  private pending: Promise<void> | undefined;

  constructor(
    readonly serverRules: RedactionRules,
    private readonly source: ExperimentRulesSource,
    private readonly now: () => number = Date.now,
  ) {
    this.serverRedactor = isEmptyRules(serverRules) ? null : new TextRedactor(serverRules);
  }

  /**
   * The redactor for what is written into an experiment, or null when no rule applies there.
   * Throws when the experiment's stored rules no longer compile: nothing is stored unredacted.
   */
  async forExperiment(experimentId: string): Promise<TextRedactor | null> {
    const own = (await this.current()).get(experimentId);
    if (own === undefined) return this.serverRedactor;
    const hit = this.compiled.get(experimentId);
    if (hit?.rules === own) return hit.redactor;
    const redactor = new TextRedactor(combineRules(this.serverRules, own));
    this.compiled.set(experimentId, { rules: own, redactor });
    return redactor;
  }

  /** Whether some experiment has rules of its own: when none does, a write need not find its trace's experiment. */
  async anyExperimentRules(): Promise<boolean> {
    return (await this.current()).size > 0;
  }

  /** After rules changed through this replica: the next write reads them again. */
  invalidate(): void {
    this.generation++;
  }

  private async current(): Promise<Map<string, RedactionRules>> {
    while (this.rules === undefined || this.loadedGeneration !== this.generation) await this.read();
    if (this.now() - this.readAt >= REDACTION_RULES_REFRESH_MS) {
      // Stale rules keep serving while fresh ones are read; a failed read keeps them.
      this.read().catch(() => {});
    }
    return this.rules;
  }

  private read(): Promise<void> {
    this.pending ??= (async () => {
      const generation = this.generation;
      try {
        const rules = await this.source.list();
        for (const id of this.compiled.keys()) if (!rules.has(id)) this.compiled.delete(id);
        // Unchanged rules keep their object, so that their compiled redactor is reused.
        for (const [id, next] of rules) {
          const before = this.rules?.get(id);
          if (before !== undefined && JSON.stringify(before) === JSON.stringify(next)) rules.set(id, before);
        }
        this.rules = rules;
        this.readAt = this.now();
        this.loadedGeneration = generation;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}
