import { keepPreviousData, useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { components } from "../../../lib/api/tasks";
import { useApi } from "../../../lib/app-context";
import { useIdempotencyKeys } from "../../../lib/idempotency";
import { allItems, cursorPaging, fetchAllPages, useFirstPageWhenLeft } from "../../../lib/paging";
import { unwrap } from "../../../lib/problem";

export type Task = components["schemas"]["Task"];
export type TaskStatus = components["schemas"]["TaskStatus"];
export type CreateTaskRequest = components["schemas"]["CreateTaskRequest"];
export type Person = components["schemas"]["Person"];

// The list's filters; changing them starts the list again from its first page (a new key).
export interface TaskFilters {
  status?: TaskStatus;
  assignee_id?: string;
}

export const taskKeys = {
  all: ["tasks"] as const,
  mine: (status: TaskStatus) => ["tasks", "mine", status] as const,
  list: (filters: TaskFilters) => ["tasks", "list", filters] as const,
  people: ["people"] as const,
};

// Newest first, a page at a time (`fetchNextPage` appends the next one).
export function useMyTasks(status: TaskStatus) {
  const api = useApi();
  const queryKey = taskKeys.mine(status);
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) =>
      unwrap(await api.tasks.GET("/v1/tasks/mine", { params: { query: { status, cursor: pageParam } } })),
    ...cursorPaging,
    select: allItems,
  });
}

export function useTasks(filters: TaskFilters) {
  const api = useApi();
  const queryKey = taskKeys.list(filters);
  useFirstPageWhenLeft(queryKey);
  return useInfiniteQuery({
    queryKey,
    queryFn: async ({ pageParam }) =>
      unwrap(await api.tasks.GET("/v1/tasks", { params: { query: { ...filters, cursor: pageParam } } })),
    ...cursorPaging,
    select: allItems,
    placeholderData: keepPreviousData,
  });
}

// Names for assignee ids; every role may read it. The company is small (tens of popugs, not
// thousands), so every page is loaded, 100 at a time: any assignee gets a name and the assignee
// filter offers everyone. Sorted by name for that filter (the service pages in creation order).
export function usePeople() {
  const api = useApi();
  return useQuery({
    queryKey: taskKeys.people,
    queryFn: async () => {
      const people = await fetchAllPages(async (cursor) =>
        unwrap(await api.tasks.GET("/v1/people", { params: { query: { per_page: 100, cursor } } })),
      );
      return people.sort((a, b) => a.full_name.localeCompare(b.full_name) || a.id.localeCompare(b.id));
    },
    refetchInterval: 30_000,
  });
}

export function useCreateTask() {
  const api = useApi();
  const client = useQueryClient();
  const keys = useIdempotencyKeys();
  return useMutation({
    mutationFn: async (body: CreateTaskRequest) => {
      const key = keys.keyFor(JSON.stringify(body));
      const task = unwrap(await api.tasks.POST("/v1/tasks", { body, params: { header: { "Idempotency-Key": key } } }));
      keys.succeeded();
      return task;
    },
    onSuccess: () => client.invalidateQueries({ queryKey: taskKeys.all }),
  });
}

export function useCompleteTask() {
  const api = useApi();
  const client = useQueryClient();
  const keys = useIdempotencyKeys();
  return useMutation({
    mutationFn: async (id: string) => {
      const key = keys.keyFor(`complete ${id}`);
      const task = unwrap(
        await api.tasks.POST("/v1/tasks/{id}/complete", { params: { path: { id }, header: { "Idempotency-Key": key } } }),
      );
      keys.succeeded();
      return task;
    },
    onSuccess: () => client.invalidateQueries({ queryKey: taskKeys.all }),
  });
}

export function useShuffle() {
  const api = useApi();
  const client = useQueryClient();
  return useMutation({
    // The key belongs to one confirmation: retrying from the same dialog reuses it.
    mutationFn: async (idempotencyKey: string) =>
      unwrap(await api.tasks.POST("/v1/tasks/shuffle", { params: { header: { "Idempotency-Key": idempotencyKey } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: taskKeys.all }),
  });
}
