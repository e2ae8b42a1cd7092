import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { TasksPaths } from "../../../lib/api-clients";
import type { components } from "../../../lib/api/tasks";
import { useApi } from "../../../lib/app-context";
import { useIdempotencyKeys } from "../../../lib/idempotency";
import { unwrap } from "../../../lib/problem";

export type Task = components["schemas"]["Task"];
export type TaskStatus = components["schemas"]["TaskStatus"];
export type CreateTaskRequest = components["schemas"]["CreateTaskRequest"];
export type Person = TasksPaths["/v1/people"]["get"]["responses"][200]["content"]["application/json"][number];

export interface TaskFilters {
  status?: TaskStatus;
  assignee_id?: string;
  page: number;
  per_page: number;
}

export const taskKeys = {
  all: ["tasks"] as const,
  mine: (status: TaskStatus) => ["tasks", "mine", status] as const,
  list: (filters: TaskFilters) => ["tasks", "list", filters] as const,
  people: ["people"] as const,
};

export function useMyTasks(status: TaskStatus) {
  const api = useApi();
  return useQuery({
    queryKey: taskKeys.mine(status),
    queryFn: async () => unwrap(await api.tasks.GET("/v1/tasks/mine", { params: { query: { status, per_page: 100 } } })),
  });
}

export function useTasks(filters: TaskFilters) {
  const api = useApi();
  return useQuery({
    queryKey: taskKeys.list(filters),
    queryFn: async () => unwrap(await api.tasks.GET("/v1/tasks", { params: { query: filters } })),
    placeholderData: keepPreviousData,
  });
}

// Names for assignee ids; every role may read it.
export function usePeople() {
  const api = useApi();
  return useQuery({
    queryKey: taskKeys.people,
    queryFn: async () => unwrap(await api.tasks.GET("/v1/people")),
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
