import { flexRender, getCoreRowModel, useReactTable, type ColumnDef, type RowSelectionState, type VisibilityState } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { usePageMoveKeys } from '../keys';

/**
 * What a column says about its layout. `grow`: takes the width left over, and shrinks to
 * GROW_MIN_PX when the table is narrow. `priority`: 1 for the column to keep longest; columns
 * that do not fit are left out, least important first (a column without one is always shown).
 */
export interface ColumnLayout {
  grow?: boolean;
  priority?: number;
}
const GROW_MIN_PX = 120;
const GAP_PX = 10;
const PADDING_PX = 20;

const layoutOf = <T,>(c: ColumnDef<T, unknown>): ColumnLayout => (c.meta as ColumnLayout | undefined) ?? {};
const minWidth = <T,>(c: ColumnDef<T, unknown>): number => (layoutOf(c).grow ? Math.min(c.size ?? GROW_MIN_PX, GROW_MIN_PX) : (c.size ?? 100));

/** The columns that fit in `width` px: always-shown ones, then by priority while there is room. */
function fittingColumns<T>(columns: ColumnDef<T, unknown>[], width: number): VisibilityState {
  const ranked = [...columns].sort((a, b) => (layoutOf(a).priority ?? 0) - (layoutOf(b).priority ?? 0));
  const visibility: VisibilityState = {};
  let used = PADDING_PX - GAP_PX;
  for (const c of ranked) {
    const need = minWidth(c) + GAP_PX;
    const fits = layoutOf(c).priority === undefined || used + need <= width;
    if (fits) used += need;
    if (c.id) visibility[c.id] = fits;
  }
  return visibility;
}

export interface VirtualTableProps<T> {
  rows: T[];
  columns: ColumnDef<T, unknown>[];
  rowId: (row: T) => string;
  /** Enter or click on a row. */
  onOpen: (row: T) => void;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore: () => void;
  empty: ReactNode;
  rowSelection?: RowSelectionState;
  onRowSelectionChange?: (s: RowSelectionState) => void;
  rowHeight?: number;
  testId?: string;
  /** Height of the scroll area; default fills the page below the toolbar. */
  height?: string;
  /** Told when the rows are scrolled away from the top, and back (live updates pause meanwhile). */
  onScrolledAway?: (away: boolean) => void;
}

/** Scrolled further than this from the top counts as away from it. */
const SCROLLED_AWAY_PX = 40;

/**
 * A dense, virtualised table: only the rows in view are in the DOM, the next page loads when the
 * end scrolls near (keyset paging on the server), and rows are focusable: ↑/↓ (or j/k) move,
 * from anywhere on the page but a text field (to the row last left, or the first), Enter opens,
 * x toggles selection. Column widths come from each column's `size`, in pixels;
 * a column with `meta.grow` takes the rest; on a narrow screen the least important columns give
 * way (see ColumnLayout) rather than being cut off at the edge.
 */
export function VirtualTable<T>(props: VirtualTableProps<T>) {
  const { rows, columns, rowId, onOpen, hasMore, loadingMore, loadMore, empty, rowHeight = 34 } = props;
  const root = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(Infinity);
  useEffect(() => {
    const el = root.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const columnVisibility = useMemo(() => fittingColumns(columns, width), [columns, width]);
  const table = useReactTable({
    data: rows,
    columns,
    getRowId: rowId,
    getCoreRowModel: getCoreRowModel(),
    enableRowSelection: !!props.onRowSelectionChange,
    state: { rowSelection: props.rowSelection ?? {}, columnVisibility },
    onRowSelectionChange: (updater) => {
      const next = typeof updater === 'function' ? updater(props.rowSelection ?? {}) : updater;
      props.onRowSelectionChange?.(next);
    },
  });
  const scroller = useRef<HTMLDivElement>(null);
  const scrolledAway = useRef(false);
  const onScroll = () => {
    const away = (scroller.current?.scrollTop ?? 0) > SCROLLED_AWAY_PX;
    if (away === scrolledAway.current) return;
    scrolledAway.current = away;
    props.onScrolledAway?.(away);
  };
  const tableRows = table.getRowModel().rows;
  const virtualizer = useVirtualizer({ count: tableRows.length, getScrollElement: () => scroller.current, estimateSize: () => rowHeight, overscan: 12 });
  const items = virtualizer.getVirtualItems();
  const last = items[items.length - 1];
  useEffect(() => {
    if (last && last.index >= tableRows.length - 20 && hasMore && !loadingMore) loadMore();
  }, [last?.index, tableRows.length, hasMore, loadingMore, loadMore]);

  const template = table
    .getVisibleLeafColumns()
    .map((c) => (layoutOf(c.columnDef).grow ? `minmax(${minWidth(c.columnDef)}px, 1fr)` : `${c.getSize()}px`))
    .join(' ');

  const lastFocused = useRef(0);
  const focusRow = (index: number): boolean => {
    if (index < 0 || index >= tableRows.length) return false;
    virtualizer.scrollToIndex(index, { align: 'auto' });
    const row = () => scroller.current?.querySelector<HTMLElement>(`[data-index="${index}"]`);
    // A row in view takes focus now; one scrolled to, once it is drawn.
    const now = row();
    if (now) now.focus();
    else requestAnimationFrame(() => row()?.focus());
    return true;
  };
  usePageMoveKeys(scroller, () => focusRow(Math.min(lastFocused.current, tableRows.length - 1)));

  return (
    <div className="vtable" role="grid" aria-rowcount={tableRows.length} data-testid={props.testId} ref={root}>
      <div className="vtable-head" role="row" style={{ gridTemplateColumns: template }}>
        {table.getLeafHeaders().map((h) => (
          <div key={h.id} role="columnheader" className="vtable-th">
            {flexRender(h.column.columnDef.header, h.getContext())}
          </div>
        ))}
      </div>
      <div className="vtable-body" ref={scroller} onScroll={onScroll} style={{ height: props.height ?? 'calc(100vh - 230px)' }}>
        {tableRows.length === 0 ? (
          <div className="empty">{empty}</div>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {items.map((item) => {
              const row = tableRows[item.index]!;
              return (
                <div
                  key={row.id}
                  role="row"
                  tabIndex={0}
                  data-index={item.index}
                  data-row-id={row.id}
                  className={`vtable-row ${row.getIsSelected() ? 'selected' : ''}`}
                  onFocus={() => (lastFocused.current = item.index)}
                  style={{ transform: `translateY(${item.start}px)`, height: rowHeight, gridTemplateColumns: template }}
                  onClick={(e) => {
                    if ((e.target as HTMLElement).closest('button, a, input, label, .no-open')) return;
                    onOpen(row.original);
                  }}
                  onKeyDown={(e) => {
                    if (e.target !== e.currentTarget) return;
                    if (e.key === 'Enter') onOpen(row.original);
                    else if (e.key === 'ArrowDown' || e.key === 'j') (e.preventDefault(), focusRow(item.index + 1));
                    else if (e.key === 'ArrowUp' || e.key === 'k') (e.preventDefault(), focusRow(item.index - 1));
                    else if (e.key === 'x' && row.getCanSelect()) row.toggleSelected();
                  }}
                >
                  {row.getVisibleCells().map((cell) => (
                    <div key={cell.id} role="gridcell" className="vtable-td">
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </div>
                  ))}
                </div>
              );
            })}
          </div>
        )}
        {(hasMore || loadingMore) && tableRows.length > 0 && (
          <div className="vtable-more">
            {loadingMore ? 'Loading more…' : <button className="ghost" onClick={loadMore}>Load more</button>}
          </div>
        )}
      </div>
    </div>
  );
}
