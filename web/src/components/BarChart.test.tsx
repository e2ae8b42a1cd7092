import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { formatCents } from "../lib/money";
import { BarChart } from "./BarChart";

describe("<BarChart>", () => {
  it("is one labelled image whose bars carry their values, negatives drawn below zero", () => {
    const { container } = render(
      <BarChart
        title="Management earnings per day"
        bars={[
          { key: "a", label: "1 Mar", value: 1200 },
          { key: "b", label: "2 Mar", value: -500 },
        ]}
        formatValue={formatCents}
      />,
    );
    expect(screen.getByRole("img", { name: "Management earnings per day" })).toBeInTheDocument();
    const bars = container.querySelectorAll("rect.bar");
    expect(bars).toHaveLength(2);
    expect(bars[1]).toHaveClass("bar-negative");
    expect(bars[1]?.querySelector("title")).toHaveTextContent("2 Mar: −$5.00");
  });
});
