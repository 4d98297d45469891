import { LifecycleStage } from '@threadline/protocol';
import { invalidParameter, notFound } from '../errors.js';
import type { TraceStore } from '../store/store.js';

/**
 * Artifact locations of experiments, which never change once an experiment exists; kept in
 * memory so that answering a trace does not read its experiment each time. Safe across server
 * replicas because only immutable facts are cached.
 */
export class ExperimentCache {
  private readonly artifactLocations = new Map<string, string>();

  constructor(private readonly store: TraceStore) {}

  /** The artifact location of an experiment, or 404 when it does not exist. */
  async artifactLocation(experimentId: string): Promise<string> {
    const cached = this.artifactLocations.get(experimentId);
    if (cached !== undefined) return cached;
    const experiment = await this.store.getExperiment(experimentId);
    if (!experiment) throw notFound(`Could not find experiment with ID ${experimentId}.`);
    this.artifactLocations.set(experimentId, experiment.artifactLocation);
    return experiment.artifactLocation;
  }

  /** Refuses writes into a missing (404) or deleted (400) experiment. */
  async requireActive(experimentId: string): Promise<void> {
    const experiment = await this.store.getExperiment(experimentId);
    if (!experiment) throw notFound(`Could not find experiment with ID ${experimentId}.`);
    if (experiment.lifecycleStage !== LifecycleStage.ACTIVE) {
      throw invalidParameter(`The experiment ${experimentId} must be in the 'active' state; it is '${experiment.lifecycleStage}'.`);
    }
    this.artifactLocations.set(experimentId, experiment.artifactLocation);
  }
}
