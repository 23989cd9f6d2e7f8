"""Tests that can fail: a plan's warnings and errors reach the test, and the harness fails on any it
does not expect, and on an expectation nothing meets.

Under the mock engine the SDK hands `pulumi.log.warn/error` to the mock engine's Log RPC, which
logs them on the engine's Python logger; `infra.plan.engine.mocked_engine` collects that logger's
warnings and errors, also those about a resource (sent once its URN is known) and those the plan
fakes log.
"""

from __future__ import annotations

import re

import pulumi
import pytest

from tests.harness import Engine, check_diagnostics, engine, plan


def _run(program, **expect) -> Engine:
    """Run a tiny program with the aws-dev stack's mocks; the diagnostics are checked on the way out."""
    with engine("aws-dev", **expect) as e:
        e.run(program)
    return e


def _component(name: str = "c") -> pulumi.ComponentResource:
    c = pulumi.ComponentResource("test:index:Thing", name)
    c.register_outputs({})
    return c


def test_an_unexpected_warning_fails_and_names_it():
    with pytest.raises(AssertionError, match=r"unexpected warning: the knob is deprecated"):
        _run(lambda: pulumi.log.warn("the knob is deprecated"))


def test_an_expected_warning_passes_and_a_missing_one_fails():
    e = _run(lambda: pulumi.log.warn("the knob is deprecated"), expect_warnings=[r"knob is deprecated"])
    assert e.diagnostics.warnings == ["the knob is deprecated"]
    with pytest.raises(AssertionError, match=r"expected warning /knob/ was not reported"):
        _run(_component, expect_warnings=["knob"])


def test_errors_are_separate_from_warnings():
    with pytest.raises(AssertionError, match=r"unexpected error: boom") as info:
        _run(lambda: (pulumi.log.warn("careful"), pulumi.log.error("boom")), expect_warnings=["careful"])
    assert "careful" not in str(info.value)
    _run(lambda: pulumi.log.error("boom"), expect_errors=[re.compile("^boom$")])


def test_a_warning_about_a_resource_is_caught_too():
    """The SDK sends it only once the resource's URN is known, as a task of its own."""
    _run(lambda: pulumi.log.warn("about c", resource=_component()), expect_warnings=["about c"])


def test_str_of_an_output_is_a_warning():
    """f"{output}" puts a warning text where a value belongs; the SDK logs it as a warning."""

    def program() -> None:
        name = pulumi.Output.from_input("llm")
        _component(f"svc-{name}")

    with pytest.raises(AssertionError, match=r"Calling __str__ on an Output\[T\] is not supported"):
        _run(program)


def test_an_sdk_deprecation_is_a_warning():
    """A deprecated resource type (and a deprecated property set through its Args) logs a warning."""
    import pulumi_aws as aws

    expected = [r"BucketWebsiteConfigurationV2 is deprecated", r"acl is deprecated"]
    _run(
        lambda: (
            aws.s3.BucketWebsiteConfigurationV2("site", bucket="b"),
            aws.s3.Bucket("b", aws.s3.BucketArgs(acl="private")),
        ),
        expect_warnings=expected,
    )


def test_an_invoke_no_fake_answers_is_a_warning():
    import pulumi_aws as aws

    _run(aws.get_billing_service_account, expect_warnings=[r"no answer for invoke aws:index/getBillingServiceAccount"])


def test_plan_checks_the_real_program_too():
    with pytest.raises(AssertionError, match=r"plan aws-dev: .*\n  expected error /never/ was not reported"):
        plan("aws-dev", expect_errors=["never"])


def test_check_diagnostics_lists_everything_at_once():
    with pytest.raises(AssertionError) as info:
        check_diagnostics("x", ["e1"], ["w1", "w2"], expect_warnings=["w1", "w9"])
    lines = str(info.value).splitlines()[1:]
    assert lines == [
        "  unexpected error: e1",
        "  unexpected warning: w2",
        "  expected warning /w9/ was not reported",
    ]


def test_a_registration_error_fails_the_run(monkeypatch):
    """What the engine refuses (here: the fakes raise for a type) surfaces as the run's exception."""
    import pulumi_aws as aws

    from infra.aws import fakes

    real = fakes.outputs

    def refuse(typ, name, inputs, ctx):
        if typ == "aws:ec2/vpc:Vpc":
            raise RuntimeError("the provider refused the VPC")
        return real(typ, name, inputs, ctx)

    monkeypatch.setattr(fakes, "outputs", refuse)
    with pytest.raises(RuntimeError, match="the provider refused the VPC"):
        _run(lambda: aws.ec2.Vpc("v", cidr_block="10.0.0.0/16"))


def test_an_error_inside_an_apply_fails_the_run():
    def program() -> None:
        pulumi.Output.from_input("x").apply(lambda _: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        _run(program)
