import { useState, type FormEvent } from "react";
import { devSignIn, setToken, userOf } from "../session.ts";

/**
 * Who is shopping. In development the storefront's server signs a token for any name ("Sign in as");
 * elsewhere a token arrives in a `#token=<jwt>` link from the identity provider.
 */
export function SignIn({ token, devSignInAvailable }: { token: string | null; devSignInAvailable: boolean }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const user = userOf(token);

  if (user)
    return (
      <div className="signin">
        <span data-testid="signed-in-as">Signed in as {user}</span>
        <button type="button" className="link" onClick={() => setToken(null)}>
          Sign out
        </button>
      </div>
    );
  if (!devSignInAvailable) return <div className="signin muted">Open a #token=… link to sign in</div>;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    devSignIn(name.trim()).catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  return (
    <form className="signin" onSubmit={submit}>
      <label>
        <span className="visually-hidden">User name</span>
        <input
          data-testid="sign-in-user"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="alice"
          required
          pattern="[\w.@\-]{1,64}"
        />
      </label>
      <button type="submit" data-testid="sign-in">
        Sign in as
      </button>
      {error && <span role="alert">{error}</span>}
    </form>
  );
}
