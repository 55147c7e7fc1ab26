// Who is signed in, for the pages that offer actions: a viewer sees no action buttons at all.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './api.js';

export const SessionContext = createContext<Session | undefined>(undefined);

export function useCanAct(): boolean {
  return useContext(SessionContext)?.role === 'admin';
}
