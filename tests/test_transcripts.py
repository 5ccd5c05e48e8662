"""Lesson transcripts: found in a lesson with their lines, and compared with what a run printed
(volatile values, shortened output). Running them in a sandbox is labtest's lesson phase
(tests/test_labs_selftest.py runs it for every lab)."""

from labs import transcripts

LESSON = '''---
day: 5
lab: day05-container-lifecycle
---
Some text.

```
$ docker ps -a --format '{{.Names}} {{.Status}}'
web Up 3 seconds
$ docker rm -f \\
    web
web
```

```bash run
docker ps
```

<!-- transcript: skip (a host with cgroup v2) -->
```console
$ stat -fc %T /sys/fs/cgroup
cgroup2fs
```

<!-- transcript: on node2 -->
```
$ docker info --format '{{.Swarm.LocalNodeState}}'
active
```

```yaml
$ not a transcript
```
'''


def test_blocks_commands_and_lines_are_found():
    blocks = transcripts.parse(LESSON, "lessons/day05.md")
    assert [b.line for b in blocks] == [7, 15, 20, 26]
    assert [b.runnable for b in blocks] == [False, True, False, False]
    del blocks[1]
    first = blocks[0]
    assert [(c.line, c.text) for c in first.commands] == [
        (8, "docker ps -a --format '{{.Names}} {{.Status}}'"),
        (10, "docker rm -f \\\n    web"),
    ]
    assert first.commands[0].expected == ["web Up 3 seconds"]
    assert blocks[1].skip == "a host with cgroup v2"
    assert blocks[2].node == "node2" and blocks[2].skip is None


def test_volatile_values_match_any_of_their_kind():
    want = ["abc123def456  busybox  Up 3 seconds  4.2MB", "sha256:" + "a" * 64]
    got = ["f42764a83e57   busybox   Up 10 minutes   5.2MB", "sha256:" + "b" * 64]
    assert transcripts.matches(want, got) == (True, 2)
    # a version or a name is not volatile
    assert not transcripts.matches(["Version: 29.8.1"], ["Version: 20.10.24"])[0]
    assert not transcripts.matches(["web"], ["db"])[0]


def test_an_ellipsis_shortens_a_line_or_skips_lines():
    assert transcripts.matches(["Server: ...", "..."], ["Server: Docker Engine", "a", "b"])[0]
    assert transcripts.matches(["first", "...", "last"], ["first", "last"])[0]
    assert not transcripts.matches(["first", "...", "last"], ["first", "middle"])[0]
    # nothing shown means nothing printed (blank lines aside)
    assert transcripts.matches([], ["", "  "])[0]
    ok, line = transcripts.matches(["a", "b", "c"], ["a", "x", "c"])
    assert not ok and line == 1


def test_a_block_runs_as_one_script_and_its_outputs_are_split_per_command(tmp_path):
    import subprocess

    block = transcripts.parse("```\n$ cd /tmp && echo one\none\n$ pwd; echo two >&2\n/tmp\ntwo\n```\n", "x.md")[0]
    script = transcripts.script(block).replace(transcripts.CWD_FILE, str(tmp_path / "cwd"))
    script = script.replace(transcripts.OUTPUT_FILE, str(tmp_path / "out"))
    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout == ""
    printed = (tmp_path / "out").read_text()
    outs = transcripts.outputs(block, printed)
    assert outs == [["one"], ["/tmp", "two"]]
    assert (tmp_path / "cwd").read_text().strip() == "/tmp"


def test_a_runnable_block_is_run_in_order_and_a_failing_one_is_reported():
    text = "```bash run\nmkdir -p /tmp/x\ncd /tmp/x\n```\n\n```\n$ pwd\n/tmp/x\n```\n"
    blocks = transcripts.parse(text, "l.md")
    assert [b.runnable for b in blocks] == [True, False]
    assert blocks[0].commands[0].text == "mkdir -p /tmp/x\ncd /tmp/x" and blocks[0].commands[0].expected == []


def test_values_of_one_machine_match_another_machines():
    want = ["12: veth-red@if11: <BROADCAST,UP> mtu 1500", "link/ether 02:42:61:4b:bc:a9 brd ff:ff:ff:ff:ff:ff",
            "lrwxrwxrwx 1 root root 0 Nov 25 16:40 net -> net:[4026532251]", 'users:(("docker-proxy",pid=2021,fd=4))']
    got = ["7: veth-red@if6: <BROADCAST,UP> mtu 1500", "link/ether 5a:11:0c:de:ad:01 brd ff:ff:ff:ff:ff:ff",
           "lrwxrwxrwx 1 root root 0 Dec  4 20:31 net -> net:[4026534950]", 'users:(("docker-proxy",pid=77,fd=4))']
    assert transcripts.matches(want, got)[0]


def test_a_block_can_ask_for_the_labs_steps_solved_first():
    text = "<!-- transcript: on node2, after step 2 -->\n```\n$ cat /tmp/done\n2\n```\n"
    block = transcripts.parse(text, "l.md")[0]
    assert (block.node, block.after_step, block.skip) == ("node2", 2, None)


def test_an_age_matches_any_age():
    assert transcripts.matches(["busybox 7 hours ago 4.4MB"], ["busybox 2 months ago 4.4MB"])[0]
    assert transcripts.matches(["created About an hour ago"], ["created 3 years ago"])[0]


def test_log_dates_and_times_match_whole():
    want = ["1:M 04 Dec 2026 21:10:05.509 * DB loaded from disk", "Fri Dec  4 20:24:53 UTC 2026"]
    got = ["1:M 11 Jan 2027 09:01:44.002 * DB loaded from disk", "Mon Jan 11 09:01:44 UTC 2027"]
    assert transcripts.matches(want[:1], got[:1])[0]
    assert transcripts.matches(want[1:], ["Mon Jan 11 09:01:44 UTC 2026"])[0]
    assert transcripts.matches(["Dec  4 20:24... web[7]: hello"], ["Jan 11 09:01:44 web[7]: hello"])[0]
    ls = ["-rw-r--r-- 1 root root 0 Nov 25 16:40 f"]
    assert transcripts.matches(ls, ["-rw-r--r-- 1 root root 0 Jan  1  2027 f"])[0]
