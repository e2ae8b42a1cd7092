import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { ErrorText } from "../../../components/ErrorText";
import { TextField } from "../../../components/TextField";
import { fieldErrorsOf } from "../../../lib/problem";
import { useSignUp } from "../api/session-mutations";

export function SignUpPage() {
  const navigate = useNavigate();
  const signUp = useSignUp();
  const [email, setEmail] = useState("");
  const [fullName, setFullName] = useState("");
  const [password, setPassword] = useState("");
  const fields = fieldErrorsOf(signUp.error);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    signUp.mutate(
      { email, full_name: fullName, password },
      { onSuccess: () => navigate("/my-tasks", { replace: true }) },
    );
  };

  return (
    <div className="narrow">
      <title>Sign up · aTES</title>
      <h1>Sign up</h1>
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Full name" autoComplete="name" value={fullName} onChange={setFullName} error={fields.full_name} required />
        <TextField label="Email" type="email" autoComplete="email" value={email} onChange={setEmail} error={fields.email} required />
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          hint="10 to 128 characters."
          value={password}
          onChange={setPassword}
          error={fields.password}
          required
        />
        <ErrorText error={signUp.error} shownFields={["email", "full_name", "password"]} />
        <button type="submit" className="primary" disabled={signUp.isPending}>
          {signUp.isPending ? "Signing up…" : "Sign up"}
        </button>
      </form>
      <p>
        Have an account? <Link to="/">Log in</Link>
      </p>
    </div>
  );
}
