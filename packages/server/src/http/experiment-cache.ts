import { LifecycleStage } from '@threadline/protocol';
import { invalidParameter, notFound } from '../errors.js';
import type { Experiment, TraceStore } from '../store/store.js';

/**
 * How long a replica trusts that an experiment is active before asking the database again. Other
 * replicas' deletes are seen within this delay; this replica's own at once.
 */
const ACTIVE_CHECK_TTL_MS = 2000;

/**
 * What the trace endpoints need to know of experiments, kept in memory so that logging or answering
 * a trace does not read its experiment each time. Artifact locations never change once an
 * experiment exists; whether it is active is re-read after a short delay.
 */
export class ExperimentCache {
  private readonly known = new Map<string, { artifactLocation: string; active: boolean; checkedAt: number }>();

  constructor(private readonly store: TraceStore) {}

  /** The artifact location of an experiment, or 404 when it does not exist. */
  async artifactLocation(experimentId: string): Promise<string> {
    return (this.known.get(experimentId) ?? (await this.load(experimentId))).artifactLocation;
  }

  /** Refuses writes into a missing (404) or deleted (400) experiment. */
  async requireActive(experimentId: string): Promise<void> {
    let entry = this.known.get(experimentId);
    if (!entry || Date.now() - entry.checkedAt > ACTIVE_CHECK_TTL_MS) entry = await this.load(experimentId);
    if (!entry.active) {
      throw invalidParameter(`The experiment ${experimentId} must be in the 'active' state to take new traces; it is deleted.`);
    }
  }

  /** Called after this replica changes an experiment's lifecycle. */
  forget(experimentId: string): void {
    this.known.delete(experimentId);
  }

  private async load(experimentId: string) {
    const experiment: Experiment | undefined = await this.store.getExperiment(experimentId);
    if (!experiment) throw notFound(`Could not find experiment with ID ${experimentId}.`);
    const entry = { artifactLocation: experiment.artifactLocation, active: experiment.lifecycleStage === LifecycleStage.ACTIVE, checkedAt: Date.now() };
    this.known.set(experimentId, entry);
    return entry;
  }
}
