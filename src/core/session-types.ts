/**
 * The app's own types, declared once so that every API is typed by them (no casts at call
 * sites), as Lucia's `Register` did:
 *
 * ```ts
 * declare module 'nestjs-sessions' {
 *   interface SessionTypes {
 *     user: User;                 // what resolveUser or userEntity gives
 *     context: AccountContext;    // what resolveContext gives
 *     data: { orgId: string };     // what a session keeps (the `data` option)
 *   }
 * }
 * ```
 *
 * `SessionService`, `SessionModuleOptions`, `SessionValidation` and `ValidatedSession` then
 * default to them; each still takes a type argument to say otherwise.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionTypes {}

/** The user type registered in `SessionTypes`, or `unknown`. */
export type SessionUser = SessionTypes extends { user: infer U } ? U : unknown;

/** The context type registered in `SessionTypes`, or `unknown`. */
export type SessionContext = SessionTypes extends { context: infer C } ? C : unknown;

/** The per-session data type registered in `SessionTypes`, or a record of JSON values. */
export type SessionData = SessionTypes extends { data: infer D } ? D : Record<string, unknown>;
