"""A small learning platform speaking LTI 1.3 for the LTI tests: a Django project around
lti1p3platform (from PyPI), run by tests/test_lti.py as a server of its own. It launches Berth
(resource links and deep linking), issues tokens and takes the scores Berth sends back.
Its state (keys, links, scores) lives in files under LMS_STATE."""
