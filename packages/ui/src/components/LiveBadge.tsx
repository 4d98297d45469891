import type { LiveView } from '../live';

const LABELS = { live: 'Live', paused: 'Paused', connecting: 'Connecting…', offline: 'Offline' } as const;

/** Whether the page updates by itself as traces arrive, and why not when it does not (in the tooltip). */
export function LiveBadge({ view }: { view: LiveView }) {
  const title =
    view.status === 'live'
      ? 'Updates as traces arrive'
      : view.status === 'connecting'
        ? 'Connecting to the server for live updates'
        : `${view.status === 'paused' ? 'Paused' : 'Not updating'}: ${view.reason ?? ''}`;
  return (
    <span className={`live-badge live-${view.status}`} data-testid="live-indicator" data-status={view.status} role="status" title={title}>
      <span className="live-dot" aria-hidden />
      {LABELS[view.status]}
    </span>
  );
}
