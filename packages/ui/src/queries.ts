import { queryOptions } from '@tanstack/react-query';
import { api } from './api';

// Answers that many screens read, asked the same way everywhere so that they share one cache
// entry. Experiments change seldom: a minute before they are asked again.

/** One experiment, with its tags (the retention setting among them). */
export const experimentQuery = (experimentId: string) =>
  queryOptions({ queryKey: ['experiment', experimentId], queryFn: ({ signal }) => api.experiment(experimentId, signal), staleTime: 60_000 });

/** Every experiment the caller may read, by name. */
export const experimentsQuery = queryOptions({ queryKey: ['experiments'], queryFn: ({ signal }) => api.experiments(signal), staleTime: 60_000 });
