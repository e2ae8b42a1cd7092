import { useId } from "react";
import { isDay } from "../lib/dates";

// A business day (YYYY-MM-DD); a half-typed value is not passed on.
export function DatePicker({
  label,
  value,
  onChange,
  min,
  max,
}: {
  label: string;
  value: string;
  onChange: (day: string) => void;
  min?: string;
  max?: string;
}) {
  const id = useId();
  return (
    <div className="field field-inline">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="date"
        value={value}
        min={min}
        max={max}
        onChange={(event) => {
          if (isDay(event.target.value)) onChange(event.target.value);
        }}
      />
    </div>
  );
}
