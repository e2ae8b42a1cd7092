import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { ConfirmDialog } from "./ConfirmDialog";
import { Money } from "./Money";
import { TextField } from "./TextField";

describe("<Money>", () => {
  it("marks a negative amount with a minus sign and a word, not colour alone", () => {
    render(<Money cents={-500} />);
    expect(screen.getByText(/−\$5\.00/)).toHaveTextContent("−$5.00 (owes)");
  });

  it("shows a positive amount plainly", () => {
    render(<Money cents={1234} />);
    expect(screen.getByText("$12.34")).toBeInTheDocument();
  });
});

describe("<TextField>", () => {
  it("ties the server's message to its input", () => {
    render(<TextField label="Title" value="" onChange={() => undefined} error="must not contain '['" />);
    const input = screen.getByLabelText("Title");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription("must not contain '['");
  });
});

function DialogHarness({ onConfirm }: { onConfirm: () => void }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Shuffle
      </button>
      <ConfirmDialog open={open} title="Shuffle every open task?" confirmLabel="Yes, shuffle" onConfirm={onConfirm} onCancel={() => setOpen(false)}>
        <p>Every open task gets a new assignee.</p>
      </ConfirmDialog>
    </>
  );
}

describe("<ConfirmDialog>", () => {
  it("takes focus, keeps Tab inside, closes on Escape and gives focus back", async () => {
    const user = userEvent.setup();
    render(<DialogHarness onConfirm={vi.fn()} />);
    const opener = screen.getByRole("button", { name: "Shuffle" });
    await user.click(opener);

    const dialog = screen.getByRole("dialog", { name: "Shuffle every open task?" });
    expect(dialog).toHaveAccessibleDescription("Every open task gets a new assignee.");
    const cancel = screen.getByRole("button", { name: "Cancel" });
    const confirm = screen.getByRole("button", { name: "Yes, shuffle" });
    expect(cancel).toHaveFocus();
    await user.tab();
    expect(confirm).toHaveFocus();
    await user.tab();
    expect(cancel).toHaveFocus();
    await user.tab({ shift: true });
    expect(confirm).toHaveFocus();

    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(opener).toHaveFocus();
  });

  it("confirms with its button", async () => {
    const user = userEvent.setup();
    const onConfirm = vi.fn();
    render(<DialogHarness onConfirm={onConfirm} />);
    await user.click(screen.getByRole("button", { name: "Shuffle" }));
    await user.click(screen.getByRole("button", { name: "Yes, shuffle" }));
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});
