import { useEffect, useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { FilterBar } from '../components/FilterBar';
import { LiveBadge } from '../components/LiveBadge';
import { useListPause, useLiveUpdates } from '../live';
import { SortSelect } from '../components/SortSelect';
import { useUrlState } from '../url-state';
import { SORTS, TracesTable } from '../components/TracesTable';
import { combineTraceFilter, COST_THRESHOLDS_USD, TIME_RANGES } from '../filters';
import { HighlightWords } from '../components/Highlight';
import { joinWordQueries, wordQueriesOf } from '../word-search';
import { usd } from '../format';

const RANGE_LABELS = Object.fromEntries(Object.entries(TIME_RANGES).map(([k, r]) => [k, r.label]));
const SORT_LABELS = Object.fromEntries(Object.entries(SORTS).map(([k, s]) => [k, s.label]));
const EXAMPLES = ["trace.status = 'ERROR'", 'trace.execution_time_ms > 2000', 'trace.cost > 0.05', "span.type = 'TOOL'", "tags.env = 'prod' OR tags.env = 'staging'"];
// Keys with their cents (`0.10`) keep the options in order: integer-like keys would sort first.
const COST_LABELS: Record<string, string> = { any: 'Any', ...Object.fromEntries(COST_THRESHOLDS_USD.map((usdValue) => [usdValue.toFixed(2), `> ${usd(usdValue)}`])) };

/**
 * URL parameters: q (filter text; plain words search the traces' text, see typedFilter), user,
 * session, state, range, cost (USD: more than), sort.
 */
export function TracesPage() {
  const { experimentId = '0' } = useParams();
  const { get, set: update } = useUrlState();
  const text = get('q') ?? '';
  const quick = { user: get('user'), session: get('session'), state: get('state'), range: get('range'), cost: get('cost') };
  const sort = get('sort') ?? 'newest';
  const { filter, textOffset } = useMemo(() => combineTraceFilter(text, quick), [text, quick.user, quick.session, quick.state, quick.range, quick.cost]); // eslint-disable-line react-hooks/exhaustive-deps
  const words = useMemo(() => joinWordQueries(wordQueriesOf(filter)), [filter]);
  const [error, setError] = useState<unknown>(null);
  const pause = useListPause();
  const live = useLiveUpdates(experimentId, { pausedBecause: pause.reason });

  return (
    <div className="page">
      <div className="page-head">
        <h1>Traces</h1>
        <LiveBadge view={live} />
      </div>
      <FilterBar
        value={text}
        onSubmit={(v) => update('q', v.trim() || null)}
        placeholder={`Words to find (refund "late delivery"), or a filter: trace.status = 'ERROR' AND tags.env = 'prod'`}
        error={error}
        textOffset={textOffset}
        examples={EXAMPLES}
        completion={{ experimentId, language: 'traces' }}
        onEditingChange={(on) => pause.editing('filter', on)}
      />
      <div className="quickbar">
        <QuickText label="User" value={quick.user ?? ''} onApply={(v) => update('user', v)} testId="quick-user" onEditingChange={(on) => pause.editing('user', on)} />
        <QuickText label="Session" value={quick.session ?? ''} onApply={(v) => update('session', v)} testId="quick-session" onEditingChange={(on) => pause.editing('session', on)} />
        <label className="quick">
          <span>State</span>
          <select value={quick.state ?? ''} onChange={(e) => update('state', e.target.value || null)} data-testid="quick-state">
            <option value="">Any</option>
            <option value="OK">OK</option>
            <option value="ERROR">Error</option>
            <option value="IN_PROGRESS">Running</option>
          </select>
        </label>
        <SortSelect label="Time" testId="quick-range" value={quick.range ?? 'all'} options={RANGE_LABELS} onChange={(v) => update('range', v, 'all')} />
        <SortSelect label="Cost" testId="quick-cost" value={quick.cost ?? 'any'} options={COST_LABELS} onChange={(v) => update('cost', v, 'any')} />
        <SortSelect testId="sort" value={sort} options={SORT_LABELS} onChange={(v) => update('sort', v, 'newest')} />
        {filter && (
          <code className="effective-filter" title="The filter sent to the server">
            {filter}
          </code>
        )}
      </div>
      <HighlightWords words={words}>
        <TracesTable experimentId={experimentId} filter={filter} sort={sort} onError={setError} onScrolledAway={pause.scrolled} />
      </HighlightWords>
    </div>
  );
}

/** A quick-filter text box: applies on Enter or when it loses focus; the value is quoted for the filter. */
export function QuickText({ label, value, onApply, testId, onEditingChange }: {
  label: string;
  value: string;
  onApply: (v: string | null) => void;
  testId: string;
  /** Told when the box holds text not yet applied, and when it no longer does. */
  onEditingChange?: (editing: boolean) => void;
}) {
  const [text, setText] = useState(value);
  const [seen, setSeen] = useState(value);
  if (seen !== value) {
    setSeen(value);
    setText(value);
  }
  useEffect(() => onEditingChange?.(text.trim() !== value), [text, value, onEditingChange]);
  const apply = () => text.trim() !== value && onApply(text.trim() || null);
  return (
    <label className="quick">
      <span>{label}</span>
      <input
        data-testid={testId}
        value={text}
        placeholder="any"
        spellCheck={false}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => e.key === 'Enter' && apply()}
        onBlur={apply}
      />
    </label>
  );
}
