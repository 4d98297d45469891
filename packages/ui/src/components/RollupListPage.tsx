import type { ColumnDef } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import { useListPause, useLiveUpdates } from '../live';
import { useUrlState } from '../url-state';
import { typedFilter } from '../filters';
import { withWords } from '../url-state';
import { joinWordQueries, wordQueriesOf } from '../word-search';
import { FilterBar } from './FilterBar';
import { HighlightWords } from './Highlight';
import { LiveBadge } from './LiveBadge';
import { RollupTable } from './RollupTable';
import { SortSelect } from './SortSelect';

const DEFAULT_ORDER = 'last_time DESC';

/**
 * The sessions or users list: title, sort, the filter in its language, the server-paged table,
 * kept up to date as traces arrive (see live.ts). Plain words in the filter box search the
 * conversations' text (typedFilter), marked in the rows and the pages they open. URL parameters:
 * q (the filter box's text), order.
 */
export function RollupListPage<T>(props: {
  title: string;
  noun: 'session' | 'user';
  experimentId: string;
  orders: Record<string, string>;
  examples: string[];
  placeholder: string;
  columns: ColumnDef<T, unknown>[];
  fetchPage: (request: { filter: string; orderBy: string[]; pageToken?: string }, signal: AbortSignal) => Promise<{ next_page_token?: string } & Record<string, unknown>>;
  pick: (page: Record<string, unknown>) => T[];
  rowId: (row: T) => string;
  pathOf: (row: T) => string;
}) {
  const { get, set } = useUrlState();
  const navigate = useNavigate();
  const text = get('q') ?? '';
  const { filter, textOffset } = useMemo(() => typedFilter(text), [text]);
  const words = useMemo(() => joinWordQueries(wordQueriesOf(filter)), [filter]);
  const order = get('order') ?? DEFAULT_ORDER;
  const [error, setError] = useState<unknown>(null);
  const pause = useListPause();
  const live = useLiveUpdates(props.experimentId, { pausedBecause: pause.reason });
  return (
    <div className="page">
      <div className="page-head">
        <h1>{props.title}</h1>
        <LiveBadge view={live} />
        <SortSelect value={order} options={props.orders} onChange={(v) => set('order', v, DEFAULT_ORDER)} />
      </div>
      <FilterBar
        value={text}
        onSubmit={(v) => set('q', v.trim() || null)}
        placeholder={props.placeholder}
        error={error}
        textOffset={textOffset}
        examples={props.examples}
        completion={{ experimentId: props.experimentId, language: `${props.noun}s` }}
        onEditingChange={(on) => pause.editing('filter', on)}
      />
      <HighlightWords words={words}>
        <RollupTable
          testId={`${props.noun}s-table`}
          noun={props.noun}
          queryKey={[`${props.noun}s`, props.experimentId, filter, order]}
          fetchPage={(pageToken, signal) => props.fetchPage({ filter, orderBy: [order], ...(pageToken ? { pageToken } : {}) }, signal)}
          pick={props.pick}
          columns={props.columns}
          rowId={props.rowId}
          onOpen={(row) => navigate(withWords(props.pathOf(row), words))}
          onError={setError}
          onScrolledAway={pause.scrolled}
        />
      </HighlightWords>
    </div>
  );
}
