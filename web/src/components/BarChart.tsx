import { useId } from "react";

export interface Bar {
  key: string;
  label: string;
  value: number;
}

const width = 640;
const height = 240;
const pad = { top: 16, right: 12, bottom: 36, left: 12 };

// A hand-drawn SVG bar chart; negative values hang below the zero line (hatched, not colour alone).
// Screen readers get the title; the table beside it carries the numbers.
export function BarChart({ title, bars, formatValue }: { title: string; bars: readonly Bar[]; formatValue: (value: number) => string }) {
  const titleId = useId();
  const patternId = `${titleId}-hatch`.replace(/:/g, "");
  const max = Math.max(0, ...bars.map((b) => b.value));
  const min = Math.min(0, ...bars.map((b) => b.value));
  const span = max - min || 1;
  const plotHeight = height - pad.top - pad.bottom;
  const y = (value: number) => pad.top + ((max - value) / span) * plotHeight;
  const zero = y(0);
  const slot = (width - pad.left - pad.right) / Math.max(1, bars.length);
  const barWidth = Math.max(2, slot * 0.7);
  const labelEvery = Math.max(1, Math.ceil(bars.length / 12));

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={titleId} className="bar-chart">
        <title id={titleId}>{title}</title>
        <defs>
          <pattern id={patternId} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <rect width="6" height="6" className="bar-negative-bg" />
            <line x1="0" y1="0" x2="0" y2="6" className="bar-negative-hatch" />
          </pattern>
        </defs>
        <line x1={pad.left} x2={width - pad.right} y1={zero} y2={zero} className="chart-axis" />
        {bars.map((bar, index) => {
          const x = pad.left + index * slot + (slot - barWidth) / 2;
          const top = Math.min(y(bar.value), zero);
          const barHeight = Math.max(1, Math.abs(y(bar.value) - zero));
          return (
            <g key={bar.key}>
              <rect
                x={x}
                y={top}
                width={barWidth}
                height={barHeight}
                className={bar.value < 0 ? "bar bar-negative" : "bar"}
                fill={bar.value < 0 ? `url(#${patternId})` : undefined}
              >
                <title>{`${bar.label}: ${formatValue(bar.value)}`}</title>
              </rect>
              {index % labelEvery === 0 ? (
                <text x={x + barWidth / 2} y={height - pad.bottom + 16} textAnchor="middle" className="chart-label">
                  {bar.label}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}
