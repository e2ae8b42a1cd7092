"""Drives aTES through Python clients generated from the committed OpenAPI
documents (openapi-python-client): sign up and log in with the auth-api
client, then create a task and complete it with the tasks-api client.
Prints the completed task as JSON.

usage: drive_generated_clients.py CLIENTS_DIR AUTH_URL TASKS_URL EMAIL
"""
import json
import sys
import time

clients_dir, auth_url, tasks_url, email = sys.argv[1:5]
sys.path.insert(0, clients_dir)

from auth_client import Client  # noqa: E402
from auth_client.api.accounts import sign_up  # noqa: E402
from auth_client.api.sessions import login  # noqa: E402
from auth_client.models import CreatedAccount, LoginRequest, SignUpRequest, TokenResponse  # noqa: E402
from tasks_client import AuthenticatedClient  # noqa: E402
from tasks_client.api.tasks import complete, create, get_one  # noqa: E402
from tasks_client.models import CreateTaskRequest, Task, TaskStatus  # noqa: E402

PASSWORD = "generated client password"
auth = Client(base_url=auth_url)
account = sign_up.sync(client=auth, body=SignUpRequest(email=email, password=PASSWORD, full_name="Generated Popug"))
assert isinstance(account, CreatedAccount), f"sign-up failed: {account}"
tokens = login.sync(client=auth, body=LoginRequest(email=email, password=PASSWORD))
assert isinstance(tokens, TokenResponse), f"login failed: {tokens}"

tasks = AuthenticatedClient(base_url=tasks_url, token=tokens.access_token)
request = CreateTaskRequest(title="Fix the nest", description="through a generated client", jira_id="POPUG-7")
deadline = time.time() + 20
while True:
    # tasks-api learns of the new account from its event; until then no one
    # can take tasks (409).
    task = create.sync(client=tasks, body=request)
    if isinstance(task, Task) or time.time() > deadline:
        break
    time.sleep(0.2)
assert isinstance(task, Task), f"create failed: {task}"
assert str(task.assignee_id) == str(account.id), "the only eligible account gets the task"
done = complete.sync(client=tasks, id=task.id)
assert isinstance(done, Task) and done.status == TaskStatus.DONE, f"complete failed: {done}"
again = get_one.sync(client=tasks, id=task.id)
print(json.dumps({"id": str(again.id), "status": again.status.value, "jira_id": again.jira_id}))
