// The process groups of the task scripts running now, job steps and light tasks alike. Each script
// leads a group of its own, so the SIGTERM that starts a drain (supervisord's stopasgroup, a Ctrl-C in a
// terminal) reaches the agent but not the scripts, and running jobs get their grace. The other side of
// that: nothing aimed at the agent's group reaches them either, so this list is how the agent takes them
// along when it leaves (run-agent.ts kills every group here on any exit it lives to see).

export interface TaskGroups {
  /** Records a started script by its pid, which is its group id; the returned function forgets it. */
  track(pgid: number | undefined): () => void;
  /** SIGKILL to every recorded group, synchronously (so it can run in a process 'exit' handler); returns how many. */
  killAll(): number;
  readonly size: number;
}

export function createTaskGroups(): TaskGroups {
  const groups = new Map<number, number>(); // pgid → how many tracks hold it (a pid may be reused)
  return {
    track(pgid) {
      if (!pgid) return () => undefined;
      groups.set(pgid, (groups.get(pgid) ?? 0) + 1);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        const n = (groups.get(pgid) ?? 1) - 1;
        if (n > 0) groups.set(pgid, n);
        else groups.delete(pgid);
      };
    },
    killAll() {
      let killed = 0;
      for (const pgid of groups.keys()) {
        try {
          process.kill(-pgid, 'SIGKILL');
          killed++;
        } catch {
          // ESRCH: the whole group is already gone
        }
      }
      return killed;
    },
    get size() {
      return groups.size;
    },
  };
}
