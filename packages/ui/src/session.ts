import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { api, setCsrfToken, setUnauthenticatedHandler, type Me } from './api';

/**
 * Who is signed in, kept as the query `['me']` so every component reads the same answer. The
 * session itself is an HttpOnly cookie that scripts never see; what the page keeps is the answer
 * of `me`: whether the server asks for accounts, the username, and the CSRF token for changes.
 */
const ME_KEY = ['me'] as const;
const SIGNED_OUT: Me = { auth_enabled: true, signed_in: false };

/** Asked once when the app starts; afterwards changed only by signing in or out, or by a 401. */
export function useMe() {
  return useQuery({
    queryKey: ME_KEY,
    queryFn: async ({ signal }) => {
      const me = await api.me(signal);
      setCsrfToken(me.csrf_token);
      return me;
    },
    staleTime: Infinity,
    retry: 1,
  });
}

/** Whether the server wants a sign-in that this browser has not made (the sign-in page shows). */
export const needsSignIn = (me: Me | undefined): boolean => me?.auth_enabled === true && !me.signed_in;

/**
 * Whether the caller may manage the experiment (give access to it, erase its users, set its
 * retention): anyone, with accounts off; with them, whoever gets an answer to the list of its
 * permissions, which the server gives its managers and admins alone. The query is the Access
 * page's, so both share one request. False until known: what needs MANAGE appears once it is.
 */
export function useManagesExperiment(experimentId: string | undefined): boolean {
  const me = useMe();
  const authOn = me.data?.auth_enabled === true;
  const permissions = useQuery({
    queryKey: ['permissions', experimentId],
    queryFn: ({ signal }) => api.permissions(experimentId!, signal),
    enabled: authOn && !needsSignIn(me.data) && experimentId !== undefined,
  });
  return me.data !== undefined && (!authOn || permissions.isSuccess);
}

function setMe(client: QueryClient, me: Me): void {
  setCsrfToken(me.csrf_token);
  client.setQueryData(ME_KEY, me);
}

/** Drops every cached answer but `me`'s, and every change's reply (a new token's secret, say): what one account saw is not shown to the next. */
function forgetData(client: QueryClient): void {
  client.removeQueries({ predicate: (query) => query.queryKey[0] !== ME_KEY[0] });
  client.getMutationCache().clear();
}

/**
 * Shows the sign-in page whenever the API answers 401 (a session that expired or was signed out
 * elsewhere). The address stays as it is, so signing in again comes back to the same page.
 */
export function watchSession(client: QueryClient): void {
  setUnauthenticatedHandler(() => {
    if (!needsSignIn(client.getQueryData<Me>(ME_KEY))) setMe(client, SIGNED_OUT);
  });
}

/** Sign in and sign out, for the components that offer them. */
export function useSessionActions() {
  const client = useQueryClient();
  return {
    signIn: async (username: string, password: string): Promise<void> => {
      const me = await api.login(username, password);
      forgetData(client);
      setMe(client, me);
    },
    /** Throws when the server could not be told, and then changes nothing: the cookie still works. */
    signOut: async (): Promise<void> => {
      await api.logout();
      forgetData(client);
      setMe(client, SIGNED_OUT);
    },
  };
}
