/** A labelled sort (or other choice) select over a record of value → label. */
export function SortSelect({ value, options, onChange, label = 'Sort', testId }: { value: string; options: Record<string, string>; onChange: (v: string) => void; label?: string; testId?: string }) {
  return (
    <label className="quick">
      <span>{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} {...(testId ? { 'data-testid': testId } : {})}>
        {Object.entries(options).map(([k, l]) => (
          <option key={k} value={k}>
            {l}
          </option>
        ))}
      </select>
    </label>
  );
}
