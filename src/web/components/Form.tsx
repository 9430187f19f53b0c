/** Small pieces of form markup shared by the list and the dialogs. */
import type { ComponentChildren } from 'preact';

/** An error to read out at once (role="alert"), or nothing. */
export function ErrorNote(props: { error: string | null; children?: ComponentChildren }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {props.error}
      {props.children}
    </p>
  );
}

/** One handle field (label for screen readers only) and its submit button; the field is named `handle`. */
export function HandleForm(props: { id: string; label: string; formLabel?: string; placeholder: string; submit: string; class: string; onSubmit: (event: SubmitEvent) => void; children?: ComponentChildren }) {
  return (
    <form class={props.class} onSubmit={props.onSubmit} aria-label={props.formLabel}>
      <label class="sr-only" for={props.id}>
        {props.label}
      </label>
      <input id={props.id} name="handle" placeholder={props.placeholder} autoCapitalize="none" spellcheck={false} />
      <button type="submit" class="primary">
        {props.submit}
      </button>
      {props.children}
    </form>
  );
}
