"""python3-saml's xmlsec and lxml come from wheels that bundle the same libxml2 (a mismatch
crashes or fails signature checks at run time, far from the cause)."""

from __future__ import annotations

import lxml.etree
import xmlsec


def test_xmlsec_and_lxml_use_the_same_libxml2() -> None:
    assert xmlsec.get_libxml_version() == lxml.etree.LIBXML_VERSION
    assert xmlsec.get_libxml_compiled_version() == lxml.etree.LIBXML_COMPILED_VERSION


def test_python3_saml_imports_and_signs() -> None:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    assert OneLogin_Saml2_Auth is not None
    assert OneLogin_Saml2_Utils.generate_unique_id().startswith("ONELOGIN_")
