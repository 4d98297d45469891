import type { Kysely } from 'kysely';
import type { DetectorName } from '../redaction/detectors.js';
import { isEmptyRules, NO_REDACTION, type CustomPattern, type RedactionRules } from '../redaction/rules.js';
import type { Database } from './schema.js';

/** An experiment's rules as stored, with who set them and when. */
export interface StoredRedactionRules {
  rules: RedactionRules;
  updatedTimeMs: number;
  updatedBy: string;
}

/**
 * Experiments' own redaction rules (`experiment_redaction_rules`, 009-redaction-rules): read,
 * replaced, listed. Rules are checked before they get here (redaction/rules.ts); setting empty
 * rules removes the row.
 */
export class ExperimentRedactionRules {
  constructor(private readonly db: Kysely<Database>) {}

  async get(experimentId: string): Promise<StoredRedactionRules | undefined> {
    const row = await this.db.selectFrom('experiment_redaction_rules').selectAll().where('experiment_id', '=', Number(experimentId)).executeTakeFirst();
    return row && { rules: rulesOf(row), updatedTimeMs: Number(row.updated_time), updatedBy: row.updated_by };
  }

  async set(experimentId: string, stored: StoredRedactionRules): Promise<void> {
    const id = Number(experimentId);
    if (isEmptyRules(stored.rules)) {
      await this.db.deleteFrom('experiment_redaction_rules').where('experiment_id', '=', id).execute();
      return;
    }
    const values = {
      detectors: stored.rules.detectors.join(','),
      patterns: JSON.stringify(stored.rules.patterns.map(({ name, pattern }) => ({ name, pattern }))),
      updated_time: stored.updatedTimeMs,
      updated_by: stored.updatedBy,
    };
    await this.db
      .insertInto('experiment_redaction_rules')
      .values({ experiment_id: id, ...values })
      .onConflict((oc) => oc.column('experiment_id').doUpdateSet(values))
      .execute();
  }

  /** Every experiment's rules, by experiment id: what each replica keeps in memory. */
  async list(): Promise<Map<string, RedactionRules>> {
    const rows = await this.db.selectFrom('experiment_redaction_rules').select(['experiment_id', 'detectors', 'patterns']).execute();
    return new Map(rows.map((row) => [String(row.experiment_id), rulesOf(row)]));
  }
}

function rulesOf(row: { detectors: string; patterns: string }): RedactionRules {
  if (row.detectors === '' && row.patterns === '[]') return NO_REDACTION;
  return {
    detectors: row.detectors === '' ? [] : (row.detectors.split(',') as DetectorName[]),
    patterns: JSON.parse(row.patterns) as CustomPattern[],
  };
}
